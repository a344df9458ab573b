# Keep the customer's contact in step with their Dodo subscription: active, renewed,
# on hold, paused, cancelled, plan changed, expired...
#
# Uses the same custom contact properties as contact_update_on_subscription; create them in
# HubSpot first. Events can arrive out of order, so the status comes from the subscription
# itself (data.status), not from the event name.


def handler(webhook):
    if not webhook.event_type.startswith("subscription."):
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
