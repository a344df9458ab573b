# Open a high-priority HubSpot task when a customer disputes a Dodo payment.
#
# The task is due when the dispute opens and is linked to the customer's contact when the
# event names the customer (Dodo's dispute payload may carry only the payment id).


def handler(webhook):
    if webhook.event_type != "dispute.opened":
        return webhook

    data = webhook.payload.get("data") or {}
    customer = data.get("customer") or {}
    email = customer.get("email")
    amount = data.get("amount")
    currency = data.get("currency")
    if amount is not None and currency:
        how_much = minor_to_decimal(amount, currency) + " " + currency
    else:
        how_much = "an unknown amount"

    subject = "Respond to dispute on payment " + (data.get("payment_id") or "?")
    body = "Dispute " + (data.get("dispute_id") or "?") + " for " + how_much
    body = body + " (stage: " + (data.get("dispute_stage") or "unknown") + ")."
    if email:
        body = body + " Customer: " + email + "."
    if data.get("remarks"):
        body = body + " Remarks: " + data.get("remarks")

    due = data.get("created_at") or webhook.payload.get("timestamp")
    task = {
        "properties": {
            "hs_timestamp": hubspot_datetime(due),
            "hs_task_subject": subject,
            "hs_task_body": body,
            "hs_task_status": "NOT_STARTED",
            "hs_task_priority": "HIGH",
        }
    }
    if email:
        # 204 = task to contact. paybridge finds the contact's id from the email before sending.
        task["associations"] = [
            {
                "to": {"email": email},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}],
            }
        ]

    webhook.url = "https://api.hubapi.com/crm/v3/objects/tasks"
    webhook.method = "POST"
    webhook.payload = task
    return webhook
