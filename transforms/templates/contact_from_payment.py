# Create a HubSpot contact for every successful Dodo payment.
#
# Sends only HubSpot's default contact properties, so it works in any portal as is.
# Empty values are left out, so a repeat payment never blanks a field someone filled in.


def handler(webhook):
    if webhook.event_type != "payment.succeeded":
        return webhook

    data = webhook.payload.get("data") or {}
    customer = data.get("customer") or {}
    billing = data.get("billing") or {}
    email = customer.get("email")
    if not email:
        return webhook

    names = split_name(customer.get("name"))
    values = {
        "email": email,
        "firstname": names[0],
        "lastname": names[1],
        "phone": customer.get("phone_number"),
        "address": billing.get("street"),
        "city": billing.get("city"),
        "state": billing.get("state"),
        "zip": billing.get("zipcode"),
        "country": billing.get("country"),
    }
    properties = {}
    for name in values:
        if values[name]:
            properties[name] = values[name]

    webhook.url = "https://api.hubapi.com/crm/v3/objects/contacts"
    webhook.method = "POST"
    webhook.payload = {"properties": properties}
    return webhook
