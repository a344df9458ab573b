"""What a fresh HubSpot portal knows: object types, default properties, groups, the deal pipeline.

Property names, types and pipeline stage ids follow a standard portal (see the contacts, deals and
properties guides cited in /work/shared/reference/hubspot-api.md, sections 3.1, 3.3 and 3.5).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import validation_error

DEFAULT_PORTAL_ID = 4242424
DEFAULT_CURRENCIES = ("USD", "EUR", "GBP", "INR")
SEEDED_AT = "2024-01-01T00:00:00Z"

PROPERTY_TYPES = ("bool", "date", "datetime", "enumeration", "number", "phone_number", "string")
FIELD_TYPES_BY_TYPE = {
    "string": {"text", "textarea", "file", "html", "phonenumber", "calculation_equation"},
    "number": {"number"},
    "bool": {"booleancheckbox"},
    "enumeration": {"select", "radio", "checkbox", "booleancheckbox"},
    "date": {"date"},
    "datetime": {"date"},
    "phone_number": {"phonenumber"},
}


@dataclass(frozen=True)
class ObjectType:
    """One CRM object type, addressable by plural name, singular name or type id."""

    name: str
    singular: str
    type_id: str
    label: str
    scope_object: str
    scope_schema: str
    created_property: str
    modified_property: str
    default_read: tuple[str, ...]
    required_any: tuple[str, ...] = ()

    @property
    def read_scope(self) -> str:
        return f"crm.objects.{self.scope_object}.read"

    @property
    def write_scope(self) -> str:
        return f"crm.objects.{self.scope_object}.write"

    @property
    def always_read(self) -> tuple[str, ...]:
        return ("hs_object_id", self.created_property, self.modified_property)


# Notes and tasks are engagements: HubSpot guards them with the contacts scopes.
OBJECT_TYPES: dict[str, ObjectType] = {
    "contacts": ObjectType(
        name="contacts",
        singular="contact",
        type_id="0-1",
        label="CONTACT",
        scope_object="contacts",
        scope_schema="contacts",
        created_property="createdate",
        modified_property="lastmodifieddate",
        default_read=(
            "createdate",
            "email",
            "firstname",
            "hs_object_id",
            "lastmodifieddate",
            "lastname",
        ),
        required_any=("email", "firstname", "lastname"),
    ),
    "companies": ObjectType(
        name="companies",
        singular="company",
        type_id="0-2",
        label="COMPANY",
        scope_object="companies",
        scope_schema="companies",
        created_property="createdate",
        modified_property="hs_lastmodifieddate",
        default_read=("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    ),
    "deals": ObjectType(
        name="deals",
        singular="deal",
        type_id="0-3",
        label="DEAL",
        scope_object="deals",
        scope_schema="deals",
        created_property="createdate",
        modified_property="hs_lastmodifieddate",
        default_read=(
            "amount",
            "closedate",
            "createdate",
            "dealname",
            "dealstage",
            "hs_lastmodifieddate",
            "hs_object_id",
            "pipeline",
        ),
    ),
    "tasks": ObjectType(
        name="tasks",
        singular="task",
        type_id="0-27",
        label="TASK",
        scope_object="contacts",
        scope_schema="contacts",
        created_property="hs_createdate",
        modified_property="hs_lastmodifieddate",
        default_read=("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
    ),
    "notes": ObjectType(
        name="notes",
        singular="note",
        type_id="0-46",
        label="NOTE",
        scope_object="contacts",
        scope_schema="contacts",
        created_property="hs_createdate",
        modified_property="hs_lastmodifieddate",
        default_read=("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
    ),
}

_OBJECT_TYPE_ALIASES = {
    alias: object_type
    for object_type in OBJECT_TYPES.values()
    for alias in (object_type.name, object_type.singular, object_type.type_id)
}


def resolve_object_type(name: str) -> ObjectType | None:
    """Map `contacts`, `contact` or `0-1` (any case) to its object type."""
    return _OBJECT_TYPE_ALIASES.get(name.lower())


def require_object_type(name: str) -> ObjectType:
    """The object type a path names, or HubSpot's 400 for one it cannot infer."""
    object_type = resolve_object_type(name)
    if object_type is None:
        raise validation_error(f"Unable to infer object type from: {name}")
    return object_type


@dataclass
class PropertyOption:
    label: str
    value: str
    display_order: int = 0
    hidden: bool = False
    description: str = ""

    def to_json(self) -> dict:
        return {
            "label": self.label,
            "value": self.value,
            "description": self.description,
            "displayOrder": self.display_order,
            "hidden": self.hidden,
        }


@dataclass
class PropertyDefinition:
    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    description: str = ""
    options: list[PropertyOption] = field(default_factory=list)
    read_only_value: bool = False
    hubspot_defined: bool = True
    has_unique_value: bool = False
    hidden: bool = False
    form_field: bool = False
    display_order: int = -1
    created_at: str = SEEDED_AT
    updated_at: str = SEEDED_AT

    def option_values(self) -> list[str]:
        return [option.value for option in self.options]

    def to_json(self) -> dict:
        body = {
            "updatedAt": self.updated_at,
            "createdAt": self.created_at,
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": [option.to_json() for option in self.options],
            "displayOrder": self.display_order,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": self.has_unique_value,
            "hidden": self.hidden,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only_value,
            },
            "formField": self.form_field,
            "dataSensitivity": "non_sensitive",
        }
        if self.hubspot_defined:
            body["hubspotDefined"] = True
        return body


DEFAULT_GROUPS: dict[str, tuple[tuple[str, str], ...]] = {
    "contacts": (
        ("contactinformation", "Contact information"),
        ("emailinformation", "Email information"),
        ("conversioninformation", "Conversion information"),
        ("socialmediainformation", "Social media information"),
        ("analyticsinformation", "Web analytics history"),
    ),
    "companies": (
        ("companyinformation", "Company information"),
        ("social_media_information", "Social media information"),
        ("analyticsinformation", "Web analytics history"),
    ),
    "deals": (
        ("dealinformation", "Deal information"),
        ("deal_activity", "Deal activity"),
        ("deal_revenue", "Deal revenue"),
    ),
    "tasks": (("task", "Task information"),),
    "notes": (("note", "Note information"),),
}

DEFAULT_PIPELINE_ID = "default"
DEFAULT_PIPELINE_LABEL = "Sales Pipeline"
# (stage id, label, probability, is closed)
DEFAULT_DEAL_STAGES = (
    ("appointmentscheduled", "Appointment Scheduled", "0.2", False),
    ("qualifiedtobuy", "Qualified To Buy", "0.4", False),
    ("presentationscheduled", "Presentation Scheduled", "0.6", False),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8", False),
    ("contractsent", "Contract Sent", "0.9", False),
    ("closedwon", "Closed Won", "1.0", True),
    ("closedlost", "Closed Lost", "0.0", True),
)

LIFECYCLE_STAGES = (
    ("subscriber", "Subscriber"),
    ("lead", "Lead"),
    ("marketingqualifiedlead", "Marketing Qualified Lead"),
    ("salesqualifiedlead", "Sales Qualified Lead"),
    ("opportunity", "Opportunity"),
    ("customer", "Customer"),
    ("evangelist", "Evangelist"),
    ("other", "Other"),
)


def default_properties(object_name: str, currencies: list[str]) -> dict[str, PropertyDefinition]:
    """The properties every portal has for one object type, keyed by name."""
    builders = {
        "contacts": _contact_properties,
        "companies": _company_properties,
        "deals": lambda: _deal_properties(currencies),
        "tasks": _task_properties,
        "notes": _note_properties,
    }
    definitions = builders[object_name]()
    for order, definition in enumerate(definitions):
        definition.display_order = order
    return {definition.name: definition for definition in definitions}


def currency_options(currencies: list[str]) -> list[PropertyOption]:
    return [PropertyOption(code, code, order) for order, code in enumerate(currencies)]


def _options(pairs) -> list[PropertyOption]:
    return [PropertyOption(label, value, order) for order, (value, label) in enumerate(pairs)]


def _text(name: str, label: str, group: str, field_type: str = "text") -> PropertyDefinition:
    return PropertyDefinition(name, label, "string", field_type, group, form_field=True)


def _system(name: str, label: str, group: str, type_: str = "datetime") -> PropertyDefinition:
    field_type = "number" if type_ == "number" else "date"
    return PropertyDefinition(name, label, type_, field_type, group, read_only_value=True)


def _record_ids(group: str, created: str) -> list[PropertyDefinition]:
    return [
        _system("hs_object_id", "Record ID", group, "number"),
        _system(created, "Create Date", group),
        _system("hs_lastmodifieddate", "Last Modified Date", group),
    ]


def _contact_properties() -> list[PropertyDefinition]:
    group = "contactinformation"
    return [
        _text("email", "Email", group),
        _text("firstname", "First Name", group),
        _text("lastname", "Last Name", group),
        _text("phone", "Phone Number", group, "phonenumber"),
        _text("mobilephone", "Mobile Phone Number", group, "phonenumber"),
        _text("fax", "Fax Number", group, "phonenumber"),
        _text("company", "Company Name", group),
        _text("website", "Website URL", group),
        _text("jobtitle", "Job Title", group),
        PropertyDefinition(
            "lifecyclestage",
            "Lifecycle Stage",
            "enumeration",
            "radio",
            group,
            options=_options(LIFECYCLE_STAGES),
            form_field=True,
        ),
        _text("address", "Street Address", group),
        _text("city", "City", group),
        _text("state", "State/Region", group),
        _text("country", "Country/Region", group),
        _text("zip", "Postal Code", group),
        _text("hubspot_owner_id", "Contact owner", group),
        *_record_ids(group, "createdate"),
        _system("lastmodifieddate", "Last Modified Date", group),
    ]


def _company_properties() -> list[PropertyDefinition]:
    group = "companyinformation"
    return [
        _text("name", "Company name", group),
        _text("domain", "Company Domain Name", group),
        _text("website", "Website URL", group),
        _text("phone", "Phone Number", group, "phonenumber"),
        _text("industry", "Industry", group),
        _text("city", "City", group),
        _text("state", "State/Region", group),
        _text("country", "Country/Region", group),
        _text("hubspot_owner_id", "Company owner", group),
        *_record_ids(group, "createdate"),
    ]


def _deal_properties(currencies: list[str]) -> list[PropertyDefinition]:
    group = "dealinformation"
    stages = [(stage_id, label) for stage_id, label, _, _ in DEFAULT_DEAL_STAGES]
    return [
        _text("dealname", "Deal Name", group),
        PropertyDefinition("amount", "Amount", "number", "number", group, form_field=True),
        PropertyDefinition("closedate", "Close Date", "datetime", "date", group, form_field=True),
        PropertyDefinition(
            "dealstage", "Deal Stage", "enumeration", "radio", group, options=_options(stages)
        ),
        PropertyDefinition(
            "pipeline",
            "Pipeline",
            "enumeration",
            "select",
            group,
            options=_options([(DEFAULT_PIPELINE_ID, DEFAULT_PIPELINE_LABEL)]),
        ),
        PropertyDefinition(
            "deal_currency_code",
            "Currency",
            "enumeration",
            "select",
            group,
            options=currency_options(currencies),
        ),
        PropertyDefinition(
            "dealtype",
            "Deal Type",
            "enumeration",
            "radio",
            group,
            options=_options(
                [("newbusiness", "New Business"), ("existingbusiness", "Existing Business")]
            ),
        ),
        _text("hubspot_owner_id", "Deal owner", group),
        _text("description", "Deal Description", group, "textarea"),
        *_record_ids(group, "createdate"),
    ]


def _task_properties() -> list[PropertyDefinition]:
    group = "task"
    return [
        _text("hs_task_subject", "Task Title", group),
        _text("hs_task_body", "Task Notes", group, "html"),
        PropertyDefinition("hs_timestamp", "Due date", "datetime", "date", group),
        PropertyDefinition(
            "hs_task_status",
            "Task Status",
            "enumeration",
            "select",
            group,
            options=_options(
                [
                    ("NOT_STARTED", "Not Started"),
                    ("IN_PROGRESS", "In Progress"),
                    ("WAITING", "Waiting"),
                    ("COMPLETED", "Completed"),
                    ("DEFERRED", "Deferred"),
                ]
            ),
        ),
        PropertyDefinition(
            "hs_task_priority",
            "Priority",
            "enumeration",
            "select",
            group,
            options=_options(
                [("NONE", "None"), ("LOW", "Low"), ("MEDIUM", "Medium"), ("HIGH", "High")]
            ),
        ),
        PropertyDefinition(
            "hs_task_type",
            "Task Type",
            "enumeration",
            "select",
            group,
            options=_options([("TODO", "To-do"), ("CALL", "Call"), ("EMAIL", "Email")]),
        ),
        _text("hubspot_owner_id", "Assigned to", group),
        *_record_ids(group, "hs_createdate"),
    ]


def _note_properties() -> list[PropertyDefinition]:
    group = "note"
    return [
        _text("hs_note_body", "Note body", group, "html"),
        PropertyDefinition("hs_timestamp", "Activity date", "datetime", "date", group),
        _text("hubspot_owner_id", "Activity assigned to", group),
        *_record_ids(group, "hs_createdate"),
    ]
