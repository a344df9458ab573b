# Record every successful Dodo payment as a won deal, linked to the customer's contact.
#
# The amount is converted from Dodo's smallest currency unit (cents, paise, yen...) and the
# deal currency is the payment's own, which must be enabled in your HubSpot portal.
# Change "pipeline" and "dealstage" if your won deals live in another pipeline.


def handler(webhook):
    if webhook.event_type != "payment.succeeded":
        return webhook

    data = webhook.payload.get("data") or {}
    if data.get("is_update_payment_method"):
        return webhook  # a card update, not a sale

    customer = data.get("customer") or {}
    email = customer.get("email")
    who = customer.get("name") or email or "unknown customer"
    currency = data.get("currency")
    created_at = data.get("created_at") or webhook.payload.get("timestamp")

    properties = {
        "dealname": "Payment " + (data.get("payment_id") or "") + " – " + who,
        "dealstage": "closedwon",
        "pipeline": "default",
    }
    if currency:
        properties["amount"] = minor_to_decimal(data.get("total_amount") or 0, currency)
        properties["deal_currency_code"] = currency
    if created_at:
        properties["closedate"] = hubspot_datetime(created_at)

    body = {"properties": properties}
    if email:
        # 3 = deal to contact. paybridge finds the contact's id from the email before sending.
        body["associations"] = [
            {
                "to": {"email": email},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}],
            }
        ]

    webhook.url = "https://api.hubapi.com/crm/v3/objects/deals"
    webhook.method = "POST"
    webhook.payload = body
    return webhook
