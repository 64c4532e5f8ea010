"""The standard objects the sandbox knows, with their fields as describe reports them.

Field lists follow the Object Reference for the Salesforce Platform (one entry per object below),
cut to what an org of this kind uses; a field a real org has only when someone created it (any
``__c`` field) is not standard here: it exists only once created, like ``Product__c`` in the seed.
Objects the reference lists without ``IsDeleted`` (User, Profile, UserRole, PermissionSet,
PermissionSetAssignment, FieldPermissions, ForecastingQuota, Organization) have none here either: selecting it
fails as it would in a real org.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

TEXT_TYPES = {"id", "reference", "string", "textarea", "picklist", "email", "url", "phone"}
NUMBER_TYPES = {"double", "currency", "percent", "int"}
DEFAULT_LENGTH = {"id": 18, "reference": 18, "string": 255, "textarea": 32000, "picklist": 255,
                  "email": 80, "url": 255, "phone": 40}
SYSTEM_FIELDS = ("Id:id:ro IsDeleted:boolean:ro CreatedDate:datetime:ro CreatedById:reference:ro "
                 "LastModifiedDate:datetime:ro LastModifiedById:reference:ro SystemModstamp:datetime:ro")
OWNER = "OwnerId:reference"
# Object Reference (Opportunity, OpportunityHistory, Account, ForecastingQuota): CurrencyIsoCode is
# "available only for organizations with the multicurrency feature enabled". Every such object keeps
# the column; the store shows the field only in a multi-currency org.
CURRENCY_FIELD = "CurrencyIsoCode"
_CURRENCY = f" {CURRENCY_FIELD}:picklist:len=3"
PERMISSIONS = ("PermissionsApiEnabled:boolean PermissionsViewSetup:boolean PermissionsModifyAllData:boolean "
               "PermissionsViewAllData:boolean PermissionsCustomizeApplication:boolean")

# name: (key prefix, field specs "Name:type[:ro][:req][:len=N]")
OBJECTS: dict[str, tuple[str, str]] = {
    # Object Reference: User, Profile, UserRole, PermissionSet, PermissionSetAssignment, FieldPermissions.
    "User": ("005", "Username:string:req FirstName:string:len=40 LastName:string:req:len=80 Name:string:ro "
                    "Email:email:req Title:string:len=80 Department:string:len=80 ManagerId:reference "
                    "IsActive:boolean ProfileId:reference:req UserRoleId:reference UserType:picklist:ro "
                    "TimeZoneSidKey:picklist:req LocaleSidKey:picklist:req"),
    "Profile": ("00e", f"Name:string:req UserType:picklist Description:textarea {PERMISSIONS}"),
    "UserRole": ("00E", "Name:string:req:len=80 DeveloperName:string:len=80 ParentRoleId:reference"),
    "PermissionSet": ("0PS", f"Name:string:req:len=80 Label:string:req:len=80 Description:textarea "
                             f"IsOwnedByProfile:boolean:ro ProfileId:reference:ro {PERMISSIONS}"),
    "PermissionSetAssignment": ("0Pa", "AssigneeId:reference:req PermissionSetId:reference:req"),
    "FieldPermissions": ("01k", "ParentId:reference:req SobjectType:string:req:len=40 Field:string:req:len=120 "
                                "PermissionsRead:boolean PermissionsEdit:boolean"),
    # Object Reference: Organization (one row, the org itself; readable with the api scope, no IsDeleted).
    # TimeZoneSidKey and DefaultLocaleSidKey are the org's defaults for new users.
    "Organization": ("00D", "Name:string:len=80 Division:string:len=80 City:string:len=40 State:string:len=80 "
                            "Country:string:len=80 DefaultLocaleSidKey:picklist:req LanguageLocaleKey:picklist:req "
                            "TimeZoneSidKey:picklist:req OrganizationType:picklist:ro IsSandbox:boolean:ro "
                            "InstanceName:string:ro:len=5"),
    # Object Reference: Account, Contact, Lead, Opportunity, OpportunityHistory, Task, Event, Campaign,
    # CampaignMember, ForecastingQuota.
    "Account": ("001", f"{OWNER} Name:string:req Type:picklist Industry:picklist Website:url "
                       "AnnualRevenue:currency NumberOfEmployees:int BillingCountry:string:len=80 "
                       "ParentId:reference YearStarted:string:len=4 Description:textarea" + _CURRENCY),
    "Contact": ("003", f"{OWNER} AccountId:reference FirstName:string:len=40 LastName:string:req:len=80 "
                       "Name:string:ro Email:email Title:string:len=128 Phone:phone LeadSource:picklist "
                       "Department:string:len=80 MailingCountry:string:len=80"),
    # The conversion fields are read-only: the Object Reference lists ConvertedDate, ConvertedAccountId,
    # ConvertedContactId and ConvertedOpportunityId without Create or Update; convertLead() sets them, and
    # IsConverted with them (read-only here too, the stricter reading).
    "Lead": ("00Q", f"{OWNER} FirstName:string:len=40 LastName:string:req:len=80 Name:string:ro Email:email "
                    "Company:string:req Title:string:len=128 Industry:picklist Country:string:len=80 Phone:phone "
                    "LeadSource:picklist Status:picklist Rating:picklist IsConverted:boolean:ro "
                    "ConvertedDate:date:ro ConvertedAccountId:reference:ro ConvertedContactId:reference:ro "
                    "ConvertedOpportunityId:reference:ro Description:textarea"),
    "Opportunity": ("006", f"{OWNER} Name:string:req:len=120 AccountId:reference StageName:picklist:req "
                           "Amount:currency Probability:percent CloseDate:date:req IsClosed:boolean:ro "
                           "IsWon:boolean:ro LeadSource:picklist Type:picklist CampaignId:reference "
                           "Description:textarea" + _CURRENCY),
    "OpportunityHistory": ("008", "OpportunityId:reference:ro StageName:picklist:ro Amount:currency:ro "
                                  "Probability:percent:ro CloseDate:date:ro" + _CURRENCY.replace("len=3", "ro:len=3")),
    "Task": ("00T", f"{OWNER} Subject:string Status:picklist Priority:picklist ActivityDate:date "
                    "WhoId:reference WhatId:reference TaskSubtype:picklist Description:textarea"),
    "Event": ("00U", f"{OWNER} Subject:string ActivityDate:date ActivityDateTime:datetime "
                     "DurationInMinutes:int EndDateTime:datetime WhoId:reference WhatId:reference "
                     "EventSubtype:picklist Location:string Description:textarea"),
    "Campaign": ("701", f"{OWNER} Name:string:req:len=80 Type:picklist Status:picklist StartDate:date "
                        "EndDate:date IsActive:boolean Description:textarea"),
    "CampaignMember": ("00v", "CampaignId:reference:req LeadId:reference ContactId:reference Status:picklist "
                              "HasResponded:boolean FirstRespondedDate:date"),
    "ForecastingQuota": ("0J9", "QuotaOwnerId:reference:req StartDate:date:req QuotaAmount:currency "
                                "ForecastingTypeId:string:len=18" + _CURRENCY),
    # Object Reference: CurrencyType ("not available in single-currency organizations") and
    # DatedConversionRate (multi-currency with advanced currency management only). Neither lists
    # IsDeleted. Their key prefixes are the sandbox's own.
    "CurrencyType": ("0Cx", "IsoCode:picklist:req:len=3 ConversionRate:double:req DecimalPlaces:int:req "
                            "IsActive:boolean IsCorporate:boolean"),
    "DatedConversionRate": ("0Cy", "IsoCode:picklist:req:len=3 ConversionRate:double:req StartDate:date "
                                   "NextStartDate:date:ro"),
}
# Objects a single-currency org does not have; DatedConversionRate needs advanced currency management too.
CURRENCY_OBJECTS = {"CurrencyType": "multi", "DatedConversionRate": "advanced"}
CURRENCY_MODES = ("single", "multi", "advanced")
# Objects the API may read but not write (Salesforce maintains them, or they are Metadata API only).
# Organization is read-only here, the stricter reading (the API may update a few of its fields, never
# create or delete it).
READ_ONLY_OBJECTS = {"OpportunityHistory", "Profile", "Organization"}
# Objects whose reference entry lists no IsDeleted; their deletes are hard deletes.
WITHOUT_IS_DELETED = {"User", "Profile", "UserRole", "PermissionSet", "PermissionSetAssignment",
                      "FieldPermissions", "Organization", "ForecastingQuota", "CurrencyType", "DatedConversionRate"}
# Objects whose field reference lists only Id and SystemModstamp of the system fields.
ONLY_MODSTAMP = {"PermissionSetAssignment", "FieldPermissions"}
# Objects only users with View Setup and Configuration (or Modify All Data) may read (Object Reference,
# PermissionSetAssignment, "Special Access Rules"); to others they do not exist.
SETUP_ACCESS = {"PermissionSetAssignment", "FieldPermissions"}
# Reference fields whose target is not the field name minus "Id" (or that point at several objects).
REFERENCE_TARGETS = {
    "OwnerId": ("User",), "CreatedById": ("User",), "LastModifiedById": ("User",), "ManagerId": ("User",),
    "WhoId": ("Contact", "Lead"), "WhatId": ("Account", "Opportunity", "Campaign"),
    "ConvertedAccountId": ("Account",), "ConvertedContactId": ("Contact",),
    "ConvertedOpportunityId": ("Opportunity",), "QuotaOwnerId": ("User",), "AssigneeId": ("User",),
    "ParentRoleId": ("UserRole",),
}


@dataclass(frozen=True)
class Field:
    """One field of an object, as describe shows it."""

    name: str
    type: str
    label: str
    updateable: bool = True
    required: bool = False
    custom: bool = False
    length: int | None = None
    precision: int | None = None
    scale: int | None = None

    def describe(self) -> dict:
        """The field's entry in a describe answer."""
        entry = {"name": self.name, "type": self.type, "label": self.label, "custom": self.custom,
                 "updateable": self.updateable, "createable": self.updateable,
                 "nillable": not self.required and self.type != "boolean" and self.name != "Id",
                 "length": self.length or 0, "precision": self.precision or 0, "scale": self.scale or 0}
        if self.type == "reference":
            entry["referenceTo"] = []
            entry["relationshipName"] = relationship_name(self.name)
        return entry


def label_for(name: str) -> str:
    """A human label from an API name: AnnualRevenue → Annual Revenue, OwnerId → Owner ID."""
    base = name[:-3] if name.endswith("__c") else name
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", base.replace("_", " ")).split()
    if words and words[-1] == "Id":
        words[-1] = "ID"
    return " ".join(words)


def parse_fields(spec: str) -> list[Field]:
    """Fields from the compact spec strings above."""
    result = []
    for item in spec.split():
        name, type_, *flags = item.split(":")
        length = next((int(f[4:]) for f in flags if f.startswith("len=")), DEFAULT_LENGTH.get(type_))
        result.append(Field(name, type_, label_for(name), updateable="ro" not in flags,
                            required="req" in flags, custom=name.endswith("__c"), length=length,
                            precision=18 if type_ in NUMBER_TYPES else None,
                            scale=2 if type_ in ("currency", "double") else 0 if type_ in NUMBER_TYPES else None))
    return result


def standard_fields(object_name: str) -> list[Field]:
    """System fields then the object's own fields (without IsDeleted where the object has none)."""
    system = [f for f in parse_fields(SYSTEM_FIELDS)
              if not (f.name == "IsDeleted" and object_name in WITHOUT_IS_DELETED)
              and not (object_name in ONLY_MODSTAMP and f.name not in ("Id", "SystemModstamp"))]
    return system + parse_fields(OBJECTS[object_name][1])


def internal_columns(object_name: str) -> list[Field]:
    """System columns the store keeps though the object does not show them (its bookkeeping needs them)."""
    shown = {f.name for f in standard_fields(object_name)}
    return [f for f in parse_fields(SYSTEM_FIELDS) if f.name not in shown]


def readable_by(object_name: str, permissions: dict[str, bool]) -> bool:
    """Whether a user with these permissions may see the object at all."""
    if object_name not in SETUP_ACCESS:
        return True
    return permissions.get("PermissionsViewSetup", False) or permissions.get("PermissionsModifyAllData", False)


def has_is_deleted(object_name: str) -> bool:
    """Whether the object reports soft deletes through IsDeleted."""
    return object_name not in WITHOUT_IS_DELETED


def key_prefix(object_name: str) -> str:
    """The three-character id prefix of an object."""
    return OBJECTS[object_name][0]


def canonical_object(name: str) -> str | None:
    """The object's proper name, matched case-insensitively as Salesforce does."""
    lowered = name.lower()
    return next((known for known in OBJECTS if known.lower() == lowered), None)


def reference_targets(object_name: str, field_name: str) -> tuple[str, ...]:
    """The objects a reference field may point at."""
    if field_name in REFERENCE_TARGETS:
        return REFERENCE_TARGETS[field_name]
    if field_name == "ParentId":
        return (object_name,) if object_name != "FieldPermissions" else ("PermissionSet",)
    target = field_name[:-2]
    return (target,) if target in OBJECTS else ()


def relationship_name(field_name: str) -> str | None:
    """The relationship a reference field is reached by in SOQL: ProfileId → Profile, Foo__c → Foo__r."""
    if field_name.endswith("__c"):
        return field_name[:-3] + "__r"
    return field_name[:-2] if field_name.endswith("Id") and field_name != "Id" else None
