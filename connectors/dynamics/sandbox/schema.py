"""The tables the sandbox serves and their columns, as Dataverse defines them.

Entity set names, primary keys and choice values follow the table reference under
learn.microsoft.com/power-apps/developer/data-platform/reference/entities/ (account.md, contact.md, lead.md,
opportunity.md, task.md, phonecall.md, appointment.md, email.md, systemuser.md, campaign.md, serviceendpoint.md,
sdkmessageprocessingstep.md, organization.md). Only the columns a CRM connector reads or writes are modelled; a column outside
them is refused like an unknown property, so a client cannot rely on one the sandbox never checked.
"""
from __future__ import annotations

from dataclasses import dataclass, field

NAMESPACE = "Microsoft.Dynamics.CRM"


@dataclass
class Column:
    """One attribute: its AttributeType, and for strings a MaxLength, for lookups the tables it targets."""

    name: str
    type: str                     # String, Memo, Integer, BigInt, Decimal, Money, DateTime, Boolean, Lookup,
                                  # Customer, Owner, Picklist, State, Status, Uniqueidentifier
    max_length: int | None = None
    targets: tuple = ()
    options: dict = field(default_factory=dict)   # choice value -> label
    create: bool = True
    update: bool = True
    custom: bool = False
    schema_name: str | None = None
    display_name: str | None = None
    write_only: bool = False       # serviceendpoint.authvalue: accepted, never returned
    date_only: bool = False        # DateTime with the DateOnly format: "2017-10-15", no time

    @property
    def is_lookup(self) -> bool:
        return self.type in ("Lookup", "Customer", "Owner")


@dataclass
class Table:
    """One table: names, keys and columns; otc is its ObjectTypeCode."""

    logical: str
    entity_set: str
    pk: str
    primary_name: str
    otc: int
    columns: dict[str, Column]
    activity: bool = False
    custom: bool = False
    can_track: bool = True

    def column(self, name: str) -> Column | None:
        return self.columns.get(name)


def _columns(*items: Column) -> dict[str, Column]:
    return {c.name: c for c in items}


def S(name: str, length: int = 100) -> Column:
    return Column(name, "String", max_length=length)


def _system(pk: str, owned: bool = True) -> list[Column]:
    base = [Column(pk, "Uniqueidentifier", update=False), Column("createdon", "DateTime", create=False, update=False),
            Column("modifiedon", "DateTime", create=False, update=False),
            Column("versionnumber", "BigInt", create=False, update=False)]
    if owned:
        base.append(Column("ownerid", "Owner", targets=("systemuser",)))
    return base


ACTIVITY_STATE = {0: "Open", 1: "Completed", 2: "Canceled", 3: "Scheduled"}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
REGARDING = ("account", "contact", "lead", "opportunity", "campaign")


def _activity(logical: str, entity_set: str, otc: int, *extra: Column) -> Table:
    return Table(logical, entity_set, "activityid", "subject", otc, _columns(
        *_system("activityid"), S("subject", 200), Column("description", "Memo", max_length=2000),
        Column("scheduledstart", "DateTime"), Column("scheduledend", "DateTime"), Column("actualend", "DateTime"),
        Column("regardingobjectid", "Lookup", targets=REGARDING),
        Column("statecode", "State", options=ACTIVITY_STATE), Column("statuscode", "Status", options={
            1: "Open", 2: "Not Started", 3: "In Progress", 5: "Completed", 6: "Canceled"}), *extra), activity=True)


TABLES: dict[str, Table] = {t.logical: t for t in [
    Table("account", "accounts", "accountid", "name", 1, _columns(
        *_system("accountid"), S("name", 160), S("accountnumber", 20), S("websiteurl", 200),
        Column("revenue", "Money"), Column("numberofemployees", "Integer"), S("address1_country", 80),
        S("telephone1", 50), S("fax", 50), Column("description", "Memo", max_length=2000),
        Column("parentaccountid", "Lookup", targets=("account",)),
        Column("statecode", "State", options={0: "Active", 1: "Inactive"}),
        Column("statuscode", "Status", options={1: "Active", 2: "Inactive"}))),
    Table("contact", "contacts", "contactid", "fullname", 2, _columns(
        *_system("contactid"), S("firstname", 50), S("lastname", 50), Column("fullname", "String", 160, create=False,
                                                                             update=False),
        S("emailaddress1", 100), S("jobtitle", 100), S("address1_country", 80), S("telephone1", 50),
        Column("parentcustomerid", "Customer", targets=("account", "contact")),
        Column("originatingleadid", "Lookup", targets=("lead",)),
        Column("statecode", "State", options={0: "Active", 1: "Inactive"}),
        Column("statuscode", "Status", options={1: "Active", 2: "Inactive"}))),
    Table("lead", "leads", "leadid", "fullname", 4, _columns(
        *_system("leadid"), S("subject", 300), S("firstname", 50), S("lastname", 50),
        Column("fullname", "String", 160, create=False, update=False), S("emailaddress1", 100),
        S("companyname", 100), S("jobtitle", 100), S("address1_country", 80), S("websiteurl", 200),
        Column("description", "Memo", max_length=2000),
        Column("leadsourcecode", "Picklist", options={1: "Advertisement", 2: "Employee Referral",
                                                      3: "External Referral", 4: "Partner", 5: "Public Relations",
                                                      6: "Seminar", 7: "Trade Show", 8: "Web", 9: "Word of Mouth",
                                                      10: "Other"}),
        Column("campaignid", "Lookup", targets=("campaign",)),
        Column("parentaccountid", "Lookup", targets=("account",)),
        Column("parentcontactid", "Lookup", targets=("contact",)),
        Column("qualifyingopportunityid", "Lookup", targets=("opportunity",)),
        Column("statecode", "State", options={0: "Open", 1: "Qualified", 2: "Disqualified"}),
        Column("statuscode", "Status", options={1: "New", 2: "Contacted", 3: "Qualified", 4: "Lost",
                                                5: "Cannot Contact", 6: "No Longer Interested", 7: "Canceled"}))),
    Table("opportunity", "opportunities", "opportunityid", "name", 3, _columns(
        *_system("opportunityid"), S("name", 300), Column("estimatedvalue", "Money"), Column("actualvalue", "Money"),
        Column("estimatedclosedate", "DateTime", date_only=True),
        Column("actualclosedate", "DateTime", date_only=True),
        Column("closeprobability", "Integer"), S("stepname", 200), Column("description", "Memo", max_length=2000),
        Column("parentaccountid", "Lookup", targets=("account",)),
        Column("customerid", "Customer", targets=("account", "contact")),
        Column("originatingleadid", "Lookup", targets=("lead",)),
        Column("campaignid", "Lookup", targets=("campaign",)),
        Column("statecode", "State", options={0: "Open", 1: "Won", 2: "Lost"}),
        Column("statuscode", "Status", options={1: "In Progress", 2: "On Hold", 3: "Won", 4: "Canceled",
                                                5: "Out-Sold"}))),
    _activity("task", "tasks", 4212, Column("prioritycode", "Picklist", options={0: "Low", 1: "Normal", 2: "High"})),
    _activity("phonecall", "phonecalls", 4210, S("phonenumber", 200),
              Column("directioncode", "Boolean", options={0: "Incoming", 1: "Outgoing"})),
    _activity("appointment", "appointments", 4201, S("location", 200)),
    _activity("email", "emails", 4202, Column("directioncode", "Boolean", options={0: "Incoming", 1: "Outgoing"}),
              S("sender", 250), S("torecipients", 500)),
    Table("systemuser", "systemusers", "systemuserid", "fullname", 8, _columns(
        *_system("systemuserid", owned=False), S("firstname", 64), S("lastname", 64),
        Column("fullname", "String", 200, create=False, update=False), S("internalemailaddress", 100),
        S("domainname", 1024), S("title", 128), Column("azureactivedirectoryobjectid", "Uniqueidentifier"),
        Column("parentsystemuserid", "Lookup", targets=("systemuser",)),
        Column("businessunitid", "Lookup", targets=("businessunit",)),
        Column("isdisabled", "Boolean", options={0: "Enabled", 1: "Disabled"}))),
    Table("campaign", "campaigns", "campaignid", "name", 4400, _columns(
        *_system("campaignid"), S("name", 128), S("codename", 32), Column("description", "Memo", max_length=2000),
        Column("typecode", "Picklist", options={1: "Advertisement", 2: "Direct Marketing", 3: "Event",
                                                4: "Co-branding", 5: "Other"}),
        Column("actualstart", "DateTime"), Column("actualend", "DateTime"),
        Column("statecode", "State", options={0: "Active", 1: "Inactive"}),
        Column("statuscode", "Status", options={0: "Proposed", 1: "Ready To Launch", 2: "Launched",
                                                3: "Completed", 4: "Canceled", 5: "Suspended", 6: "Inactive"}))),
    # Goals (goal.md, Dynamics 365 Sales): a target for a user or a team over a period, measured by a goal metric
    # (metric.md: isamount 1 Amount / 0 Count, amountdatatype 0 Money / 1 Decimal / 2 Integer), which the platform
    # copies onto the goal; transactioncurrencyid is read-only (the organization's currency here).
    Table("goal", "goals", "goalid", "title", 9600, _columns(
        *_system("goalid"), S("title", 100), Column("goalownerid", "Lookup", targets=("systemuser", "team")),
        Column("goalstartdate", "DateTime", date_only=True), Column("goalenddate", "DateTime", date_only=True),
        Column("fiscalperiod", "Picklist", options={1: "Quarter 1", 2: "Quarter 2", 3: "Quarter 3", 4: "Quarter 4",
                                                    **{100 + m: name for m, name in enumerate(MONTHS, 1)},
                                                    201: "Semester 1", 202: "Semester 2", 301: "Annual"}),
        Column("fiscalyear", "Picklist", options={y: f"FY{y}" for y in range(1970, 2039)}),
        Column("isfiscalperiodgoal", "Boolean", options={0: "No", 1: "Yes"}),
        Column("metricid", "Lookup", targets=("metric",)), Column("parentgoalid", "Lookup", targets=("goal",)),
        Column("isamount", "Boolean", options={0: "Count", 1: "Amount"}, create=False, update=False),
        Column("amountdatatype", "Picklist", options={0: "Money", 1: "Decimal", 2: "Integer"}, create=False,
               update=False),
        Column("targetmoney", "Money"), Column("targetdecimal", "Decimal"), Column("targetinteger", "Integer"),
        Column("transactioncurrencyid", "Lookup", targets=("transactioncurrency",), create=False, update=False),
        Column("statecode", "State", options={0: "Active", 1: "Inactive"}),
        Column("statuscode", "Status", options={0: "Open", 1: "Closed", 2: "Discarded"}))),
    Table("metric", "metrics", "metricid", "name", 9603, _columns(
        *_system("metricid", owned=False), S("name", 100), Column("isamount", "Boolean", options={0: "Count", 1: "Amount"}),
        Column("amountdatatype", "Picklist", options={0: "Money", 1: "Decimal", 2: "Integer"})), can_track=False),
    Table("team", "teams", "teamid", "name", 9, _columns(
        *_system("teamid", owned=False), S("name", 160),
        Column("businessunitid", "Lookup", targets=("businessunit",))), can_track=False),
    Table("transactioncurrency", "transactioncurrencies", "transactioncurrencyid", "currencyname", 9105, _columns(
        *_system("transactioncurrencyid", owned=False), S("currencyname", 100), S("isocurrencycode", 5),
        S("currencysymbol", 13)), can_track=False),
    # The environment's one organization row (organization.md): name is its unique name, the orgname a form
    # passes to web resources (pass-parameters-url-by-using-ribbon.md), languagecode its base language (orglcid).
    # It has no default time zone column; time zones are per user (usersettings.timezonecode).
    Table("organization", "organizations", "organizationid", "name", 1019, _columns(
        *_system("organizationid", owned=False), S("name", 160), Column("languagecode", "Integer")),
        can_track=False),
    Table("businessunit", "businessunits", "businessunitid", "name", 10, _columns(
        *_system("businessunitid", owned=False), S("name", 160)), can_track=False),
    # Security roles (role.md) and who holds them: the N:N systemuserroles_association of systemuser, whose
    # intersect table is systemuserroles (systemuserroles.md); read through
    # systemusers(<id>)/systemuserroles_association (webapi/retrieve-related-entities-query.md).
    Table("role", "roles", "roleid", "name", 1036, _columns(
        *_system("roleid", owned=False), S("name", 100),
        Column("businessunitid", "Lookup", targets=("businessunit",))), can_track=False),
    Table("systemuserroles", "systemuserrolescollection", "systemuserroleid", "systemuserroleid", 15, _columns(
        Column("systemuserroleid", "Uniqueidentifier", update=False),
        Column("createdon", "DateTime", create=False, update=False),
        Column("modifiedon", "DateTime", create=False, update=False),
        Column("versionnumber", "BigInt", create=False, update=False),
        Column("systemuserid", "Uniqueidentifier", update=False),
        Column("roleid", "Uniqueidentifier", update=False)), can_track=False),
    Table("publisher", "publishers", "publisherid", "friendlyname", 7101, _columns(
        *_system("publisherid", owned=False), S("uniquename", 256), S("friendlyname", 256),
        S("customizationprefix", 8), Column("customizationoptionvalueprefix", "Integer")), can_track=False),
    Table("solution", "solutions", "solutionid", "friendlyname", 7100, _columns(
        *_system("solutionid", owned=False), S("uniquename", 65), S("friendlyname", 256), S("version", 256),
        Column("publisherid", "Lookup", targets=("publisher",))), can_track=False),
    Table("serviceendpoint", "serviceendpoints", "serviceendpointid", "name", 4618, _columns(
        *_system("serviceendpointid", owned=False), S("name", 256), Column("description", "Memo", max_length=2000),
        Column("contract", "Picklist", options={1: "OneWay", 2: "Queue", 3: "Rest", 4: "TwoWay", 5: "Topic",
                                                6: "Queue (Persistent)", 7: "Event Hub", 8: "Webhook",
                                                9: "Event Grid", 10: "Managed Data Lake"}),
        S("url", 2000), Column("authtype", "Picklist", options={1: "ACS", 2: "SAS Key", 3: "SAS Token",
                                                               4: "Webhook Key", 5: "Http Header",
                                                               6: "Http Query String", 7: "Connection String",
                                                               8: "Access Key"}),
        Column("authvalue", "Memo", max_length=2048, write_only=True),
        Column("messageformat", "Picklist", options={1: ".NETBinary", 2: "Json", 3: "XML"}),
        Column("namespaceformat", "Picklist", options={1: "Namespace Name", 2: "Namespace Address"}),
        Column("connectionmode", "Picklist", options={1: "Normal", 2: "Federated"}),
        Column("userclaim", "Picklist", options={1: "None", 2: "UserId", 3: "UserInfo"})), can_track=False),
    Table("sdkmessage", "sdkmessages", "sdkmessageid", "name", 4606, _columns(
        *_system("sdkmessageid", owned=False), S("name", 256)), can_track=False),
    Table("sdkmessagefilter", "sdkmessagefilters", "sdkmessagefilterid", "name", 4607, _columns(
        *_system("sdkmessagefilterid", owned=False), S("name", 256), S("primaryobjecttypecode", 64),
        Column("sdkmessageid", "Lookup", targets=("sdkmessage",))), can_track=False),
    Table("sdkmessageprocessingstep", "sdkmessageprocessingsteps", "sdkmessageprocessingstepid", "name", 4608,
          _columns(*_system("sdkmessageprocessingstepid", owned=False), S("name", 256),
                   Column("description", "Memo", max_length=256),
                   Column("stage", "Picklist", options={10: "Initial Pre-operation", 20: "Pre-operation",
                                                        30: "Main Operation", 40: "Post-operation"}),
                   Column("mode", "Picklist", options={0: "Synchronous", 1: "Asynchronous"}),
                   Column("rank", "Integer"), S("filteringattributes", 100000),
                   Column("asyncautodelete", "Boolean", options={0: "No", 1: "Yes"}),
                   Column("supporteddeployment", "Picklist", options={0: "Server Only", 1: "Microsoft Dynamics 365 Client for Outlook Only", 2: "Both"}),
                   Column("eventhandler", "Lookup", targets=("serviceendpoint",)),
                   Column("sdkmessageid", "Lookup", targets=("sdkmessage",)),
                   Column("sdkmessagefilterid", "Lookup", targets=("sdkmessagefilter",)),
                   Column("statecode", "State", options={0: "Enabled", 1: "Disabled"}),
                   Column("statuscode", "Status", options={1: "Enabled", 2: "Disabled"})), can_track=False),
]}
BY_SET = {t.entity_set: t for t in TABLES.values()}
# Tables whose writes reach webhooks and record forms (the CRM data; configuration tables are not).
DATA_TABLES = ("account", "contact", "lead", "opportunity", "task", "phonecall", "appointment", "email",
               "systemuser", "campaign", "goal")
# Which attribute types a client may create through EntityDefinitions(...)/Attributes, by @odata.type.
CREATABLE_TYPES = {"StringAttributeMetadata": "String", "MemoAttributeMetadata": "Memo",
                   "IntegerAttributeMetadata": "Integer", "DecimalAttributeMetadata": "Decimal",
                   "MoneyAttributeMetadata": "Money", "DateTimeAttributeMetadata": "DateTime",
                   "BooleanAttributeMetadata": "Boolean", "PicklistAttributeMetadata": "Picklist"}
METADATA_TYPE = {"String": "StringAttributeMetadata", "Memo": "MemoAttributeMetadata",
                 "Integer": "IntegerAttributeMetadata", "BigInt": "BigIntAttributeMetadata",
                 "Decimal": "DecimalAttributeMetadata", "Money": "MoneyAttributeMetadata",
                 "DateTime": "DateTimeAttributeMetadata", "Boolean": "BooleanAttributeMetadata",
                 "Lookup": "LookupAttributeMetadata", "Customer": "LookupAttributeMetadata",
                 "Owner": "LookupAttributeMetadata", "Picklist": "PicklistAttributeMetadata",
                 "State": "StateAttributeMetadata", "Status": "StatusAttributeMetadata",
                 "Uniqueidentifier": "UniqueIdentifierAttributeMetadata"}


def table_for_set(entity_set: str) -> Table | None:
    return BY_SET.get(entity_set)
