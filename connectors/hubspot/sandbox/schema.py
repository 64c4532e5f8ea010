"""Object types, their standard properties and association types, as a HubSpot portal defines them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .pipelines import DEFAULT_PIPELINE, Pipeline

# name → (objectTypeId, singular, first record id); ids of each type count up from their own base.
OBJECT_TYPES: dict[str, tuple[str, str, int]] = {
    "contacts": ("0-1", "contact", 1_000_001), "companies": ("0-2", "company", 2_000_001),
    "deals": ("0-3", "deal", 3_000_001), "calls": ("0-48", "call", 4_000_001),
    "emails": ("0-49", "email", 5_000_001), "meetings": ("0-47", "meeting", 6_000_001),
    "notes": ("0-46", "note", 7_000_001), "tasks": ("0-27", "task", 8_000_001),
    "goal_targets": ("0-74", "goal_target", 9_000_001),
}
ENGAGEMENTS = ("calls", "emails", "meetings", "notes", "tasks")
READ_ONLY_TYPES = ("goal_targets",)  # goals are set in HubSpot's UI, not through the API
ALIASES = {alias: name for name, (type_id, singular, _) in OBJECT_TYPES.items()
           for alias in (name, type_id, singular)}
DEFAULT_GROUP = {"contacts": "contactinformation", "companies": "companyinformation", "deals": "dealinformation",
                 "goal_targets": "goalinformation", **{name: "engagementinformation" for name in ENGAGEMENTS}}
LIFECYCLE_STAGES = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
                    "customer", "evangelist", "other")
LEAD_STATUSES = ("NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT", "CONNECTED",
                 "BAD_TIMING")
ANALYTICS_SOURCES = ("ORGANIC_SEARCH", "PAID_SEARCH", "EMAIL_MARKETING", "SOCIAL_MEDIA", "REFERRALS",
                     "OTHER_CAMPAIGNS", "DIRECT_TRAFFIC", "OFFLINE", "PAID_SOCIAL")
LIFECYCLE_DATE_LABELS = {"subscriber": "Became a Subscriber Date", "lead": "Became a Lead Date",
                         "marketingqualifiedlead": "Became a Marketing Qualified Lead Date",
                         "salesqualifiedlead": "Became a Sales Qualified Lead Date",
                         "opportunity": "Became an Opportunity Date", "customer": "Became a Customer Date",
                         "evangelist": "Became an Evangelist Date", "other": "Became an Other Lifecycle Date"}
# Engagement enumerations as HubSpot's engagement guides list them (Calls, Emails, Meetings, Tasks).
CALL_STATUSES = ("BUSY", "CALLING_CRM_USER", "CANCELED", "COMPLETED", "CONNECTING", "FAILED", "IN_PROGRESS",
                 "NO_ANSWER", "QUEUED", "RINGING")
EMAIL_STATUSES = ("BOUNCED", "FAILED", "SCHEDULED", "SENDING", "SENT")
EMAIL_DIRECTIONS = ("EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL")
MEETING_OUTCOMES = ("SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED")
TASK_TYPES = ("EMAIL", "CALL", "TODO")
DEAL_TYPES = (("newbusiness", "New Business"), ("existingbusiness", "Existing Business"))
PROPERTY_TYPES = {"bool": ("booleancheckbox", "radio", "calculation_equation"),
                  "enumeration": ("booleancheckbox", "checkbox", "radio", "select", "calculation_equation"),
                  "date": ("date",), "datetime": ("date",), "string": ("file", "text", "textarea", "phonenumber",
                                                                        "html", "calculation_equation"),
                  "number": ("number", "calculation_equation"), "phone_number": ("phonenumber",)}
# Properties HubSpot stamps itself: refused in API writes (READ_ONLY_VALUE).
SYSTEM_PROPERTIES = ("hs_object_id", "hs_lastmodifieddate", "lastmodifieddate", "hs_is_closed", "hs_is_closed_won",
                     "hs_createdate", "hs_deal_stage_probability")


@dataclass
class Prop:
    """One property definition."""

    name: str
    label: str
    type: str = "string"
    field_type: str = "text"
    group: str = ""
    options: tuple = ()                 # (value, label) pairs of an enumeration
    hubspot_defined: bool = True
    read_only: bool = False
    unique: bool = False
    description: str = ""
    created_at: str = "2017-01-01T00:00:00.000Z"
    extra: dict[str, Any] = field(default_factory=dict)

    def api(self, display_order: int = -1) -> dict[str, Any]:
        """The property as GET /crm/v3/properties shows it."""
        options = [{"label": label, "value": value, "displayOrder": i, "hidden": False, "description": ""}
                   for i, (value, label) in enumerate(self.options)]
        return {"updatedAt": self.created_at, "createdAt": self.created_at, "name": self.name, "label": self.label,
                "type": self.type, "fieldType": self.field_type, "description": self.description,
                "groupName": self.group, "options": options, "displayOrder": display_order,
                "calculated": self.read_only and self.hubspot_defined, "externalOptions": False,
                "hasUniqueValue": self.unique, "hidden": False, "hubspotDefined": self.hubspot_defined,
                "modificationMetadata": {"archivable": not self.hubspot_defined,
                                         "readOnlyDefinition": self.hubspot_defined,
                                         "readOnlyValue": self.read_only},
                "formField": self.type != "datetime" and not self.read_only, "dataSensitivity": "non_sensitive"}


def _enum(values, labels=None) -> tuple:
    return tuple((v, (labels or {}).get(v, v.replace("_", " ").title())) for v in values)


def _common(name: str) -> list[Prop]:
    group = DEFAULT_GROUP[name]
    props = [Prop("hs_object_id", "Record ID", "number", "number", group, read_only=True, unique=True),
             Prop("createdate", "Create Date", "datetime", "date", group),
             Prop("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", group, read_only=True)]
    if name != "goal_targets":
        props.append(Prop("hubspot_owner_id", "Owner", "enumeration", "select", group))
    if name in ("contacts", "companies", "deals"):
        props.append(Prop("hs_merged_object_ids", "Merged Record IDs", "enumeration", "checkbox", group,
                          read_only=True))
    return props


def _text(group: str, *pairs: tuple[str, str]) -> list[Prop]:
    return [Prop(name, label, "string", "text", group) for name, label in pairs]


def standard_properties(name: str, pipelines: tuple[Pipeline, ...] = (DEFAULT_PIPELINE,)) -> list[Prop]:
    """The properties HubSpot defines on an object type (a deal's stage and pipeline options: ``pipelines``)."""
    group = DEFAULT_GROUP[name]
    props = _common(name)
    if name == "contacts":
        props += _text(group, ("firstname", "First Name"), ("lastname", "Last Name"), ("company", "Company Name"),
                       ("jobtitle", "Job Title"), ("industry", "Industry"), ("country", "Country/Region"),
                       ("phone", "Phone Number"), ("hs_analytics_source_data_1", "Original Source Drill-Down 1"),
                       ("hs_analytics_first_url", "First Page Seen"))
        props += [Prop("email", "Email", "string", "text", group, unique=True),
                  Prop("lastmodifieddate", "Last Modified Date", "datetime", "date", group, read_only=True),
                  Prop("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", group, _enum(LIFECYCLE_STAGES)),
                  Prop("hs_lead_status", "Lead Status", "enumeration", "radio", group, _enum(LEAD_STATUSES)),
                  Prop("hs_analytics_source", "Original Source", "enumeration", "select", group,
                       _enum(ANALYTICS_SOURCES), read_only=True),
                  # The primary company's id; HubSpot keeps it in step with the primary association.
                  Prop("associatedcompanyid", "Primary Associated Company ID", "number", "number", group)]
        # One "Became a ... Date" per lifecycle stage, stamped by HubSpot when the stage is first reached.
        props += [Prop(f"hs_lifecyclestage_{stage}_date", label, "datetime", "date", group, read_only=True)
                  for stage, label in LIFECYCLE_DATE_LABELS.items()]
    elif name == "companies":
        props += _text(group, ("name", "Company name"), ("domain", "Company Domain Name"), ("industry", "Industry"),
                       ("country", "Country/Region"), ("founded_year", "Year Founded"), ("website", "Website URL"))
        props += [Prop("annualrevenue", "Annual Revenue", "number", "number", group),
                  Prop("numberofemployees", "Number of Employees", "number", "number", group),
                  # Set by HubSpot from the parent-company association, not written directly.
                  Prop("hs_parent_company_id", "Parent Company", "number", "number", group, read_only=True)]
    elif name == "deals":
        # The options are the pipelines' stages and the pipelines themselves (the Pipelines API lists the same).
        stages = tuple((stage.id, stage.label) for pipeline in pipelines for stage in pipeline.stages)
        props += _text(group, ("dealname", "Deal Name"))
        props += [Prop("amount", "Amount", "number", "number", group),
                  Prop("dealstage", "Deal Stage", "enumeration", "radio", group, stages),
                  Prop("pipeline", "Pipeline", "enumeration", "select", group,
                       tuple((pipeline.id, pipeline.label) for pipeline in pipelines)),
                  Prop("closedate", "Close Date", "datetime", "date", group),
                  Prop("hs_is_closed", "Is Deal Closed?", "bool", "booleancheckbox", group,
                       (("true", "Yes"), ("false", "No")), read_only=True),
                  Prop("hs_is_closed_won", "Is Closed Won", "bool", "booleancheckbox", group,
                       (("true", "Yes"), ("false", "No")), read_only=True),
                  Prop("hs_deal_stage_probability", "Deal Stage Probability", "number", "number", group,
                       read_only=True),
                  Prop("dealtype", "Deal Type", "enumeration", "radio", group, DEAL_TYPES),
                  Prop("hs_analytics_source", "Original Source Type", "enumeration", "select", group,
                       _enum(ANALYTICS_SOURCES), read_only=True),
                  # HubSpot's deal currency ("Currency"): one of the portal's currencies (Currencies guide).
                  Prop("deal_currency_code", "Currency", "enumeration", "select", group),
                  # Not HubSpot's: a custom property the seed's portal has (maven-crm's product).
                  Prop("product", "Product", "string", "text", group, hubspot_defined=False,
                       description="The product sold (maven-crm).")]
    elif name == "goal_targets":
        props += _text(group, ("hs_goal_name", "Goal name"), ("hs_assignee_user_id", "Assignee user ID"),
                       ("hs_assignee_team_id", "Assignee team ID"))
        props += [Prop("hs_target_amount", "Target amount", "number", "number", group),
                  Prop("hs_start_datetime", "Start date", "datetime", "date", group),
                  Prop("hs_end_datetime", "End date", "datetime", "date", group)]
    else:
        props += [Prop("hs_timestamp", "Activity date", "datetime", "date", group)]
        props += {"calls": _text(group, ("hs_call_title", "Call Title"), ("hs_call_body", "Call notes")) +
                  [Prop("hs_call_direction", "Call direction", "enumeration", "select", group,
                        _enum(("INBOUND", "OUTBOUND"))),
                   Prop("hs_call_status", "Call status", "enumeration", "select", group, _enum(CALL_STATUSES)),
                   # Milliseconds (the Calls guide).
                   Prop("hs_call_duration", "Call duration", "number", "number", group)],
                  "emails": _text(group, ("hs_email_subject", "Email subject"), ("hs_email_text", "Email body")) +
                  [Prop("hs_email_direction", "Email direction", "enumeration", "select", group,
                        _enum(EMAIL_DIRECTIONS)),
                   Prop("hs_email_status", "Email send status", "enumeration", "select", group,
                        _enum(EMAIL_STATUSES))],
                  "meetings": _text(group, ("hs_meeting_title", "Meeting name"),
                                    ("hs_meeting_body", "Meeting description")) +
                  [Prop("hs_meeting_outcome", "Meeting outcome", "enumeration", "select", group,
                        _enum(MEETING_OUTCOMES)),
                   Prop("hs_meeting_start_time", "Start time", "datetime", "date", group),
                   Prop("hs_meeting_end_time", "End time", "datetime", "date", group)],
                  "notes": _text(group, ("hs_note_body", "Note body")),
                  "tasks": _text(group, ("hs_task_subject", "Task title"), ("hs_task_body", "Task notes"),
                                 ("hs_task_priority", "Priority")) +
                  [Prop("hs_task_status", "Task status", "enumeration", "select", group,
                        _enum(("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"))),
                   Prop("hs_task_type", "Task type", "enumeration", "select", group, _enum(TASK_TYPES))]}[name]
    return props


# Properties answered when a request names none, as HubSpot does per object.
DEFAULT_PROPERTIES = {
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "deals": ("amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate", "hs_object_id",
              "pipeline"),
}
DEFAULT_ENGAGEMENT_PROPERTIES = ("createdate", "hs_lastmodifieddate", "hs_object_id")

# HUBSPOT_DEFINED association type ids, (from, to) → id; the reverse direction has its own id.
_ASSOCIATION_PAIRS = [
    ("contacts", "companies", 279, 280), ("deals", "contacts", 3, 4), ("deals", "companies", 341, 342),
    ("contacts", "calls", 194, 193), ("contacts", "emails", 198, 197), ("contacts", "meetings", 200, 199),
    ("contacts", "notes", 202, 201), ("contacts", "tasks", 204, 203), ("companies", "calls", 182, 181),
    ("companies", "emails", 186, 185), ("companies", "meetings", 188, 187), ("companies", "notes", 190, 189),
    ("companies", "tasks", 192, 191), ("deals", "calls", 206, 205), ("deals", "emails", 210, 209),
    ("deals", "meetings", 212, 211), ("deals", "notes", 214, 213), ("deals", "tasks", 216, 215),
]
ASSOCIATION_TYPES: dict[tuple[str, str], int] = {}
for _a, _b, _forward, _back in _ASSOCIATION_PAIRS:
    ASSOCIATION_TYPES[(_a, _b)] = _forward
    ASSOCIATION_TYPES[(_b, _a)] = _back
# The HUBSPOT_DEFINED "Primary" labels (Associations v4 guide, association type ids): a deal or contact has at
# most one primary company, shown by the label alongside the unlabeled type.
PRIMARY_TYPES: dict[tuple[str, str], int] = {("contacts", "companies"): 1, ("companies", "contacts"): 2,
                                             ("deals", "companies"): 5, ("companies", "deals"): 6}
PRIMARY_LABEL = "Primary"


def canonical_type(name: str) -> str | None:
    """The plural object name for a URL segment (name, singular or objectTypeId), or None."""
    return ALIASES.get(name.lower()) if name else None


def association_label(from_type: str, to_type: str) -> str:
    """The v3 association type name, e.g. contact_to_company."""
    return f"{OBJECT_TYPES[from_type][1]}_to_{OBJECT_TYPES[to_type][1]}"
