# Add a note to the customer's contact whenever a Dodo refund succeeds or fails.


def handler(webhook):
    if webhook.event_type not in ["refund.succeeded", "refund.failed"]:
        return webhook

    data = webhook.payload.get("data") or {}
    customer = data.get("customer") or {}
    email = customer.get("email")
    if not email:
        return webhook

    amount = data.get("amount")
    currency = data.get("currency")
    if amount is not None and currency:
        how_much = minor_to_decimal(amount, currency) + " " + currency
    else:
        how_much = "an unknown amount"
    kind = "Partial refund" if data.get("is_partial") else "Refund"
    outcome = "succeeded" if webhook.event_type == "refund.succeeded" else "failed"

    body = kind + " of " + how_much + " " + outcome + "."
    body = body + " Refund " + (data.get("refund_id") or "?")
    body = body + " for payment " + (data.get("payment_id") or "?") + "."
    if data.get("reason"):
        body = body + " Reason: " + data.get("reason")

    when = data.get("created_at") or webhook.payload.get("timestamp")
    webhook.url = "https://api.hubapi.com/crm/v3/objects/notes"
    webhook.method = "POST"
    webhook.payload = {
        "properties": {"hs_timestamp": hubspot_datetime(when), "hs_note_body": body},
        # 202 = note to contact. paybridge finds the contact's id from the email before sending.
        "associations": [
            {
                "to": {"email": email},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}],
            }
        ],
    }
    return webhook
