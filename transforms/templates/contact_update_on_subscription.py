# When a Dodo subscription becomes active, write its details onto the customer's contact.
#
# Before switching this on, create these contact properties in HubSpot (Settings > Properties):
#   subscription_status, subscription_id, subscription_product_id, subscription_currency
#   (single-line text), next_billing_date (date picker), subscription_amount (number).
# The contact is found by email, so it must exist already: pair this with contact_from_payment.


def handler(webhook):
    if webhook.event_type != "subscription.active":
        return webhook

    data = webhook.payload.get("data") or {}
    customer = data.get("customer") or {}
    email = customer.get("email")
    if not email:
        return webhook

    currency = data.get("currency")
    amount = data.get("recurring_pre_tax_amount")
    next_billing = data.get("next_billing_date")
    values = {
        "subscription_status": data.get("status"),
        "subscription_id": data.get("subscription_id"),
        "subscription_product_id": data.get("product_id"),
        "subscription_currency": currency,
    }
    if next_billing:
        values["next_billing_date"] = hubspot_date(next_billing)
    if amount is not None and currency:
        values["subscription_amount"] = minor_to_decimal(amount, currency)

    properties = {}
    for name in values:
        if values[name]:
            properties[name] = values[name]

    webhook.url = (
        "https://api.hubapi.com/crm/v3/objects/contacts/" + url_quote(email) + "?idProperty=email"
    )
    webhook.method = "PATCH"
    webhook.payload = {"properties": properties}
    return webhook
