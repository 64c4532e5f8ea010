"""The Salesforce objects Pipewise reads, one declaration each.

Every stream pages on SystemModstamp. OpportunityHistory has no LastModifiedDate (its rows are
never edited), but it does carry SystemModstamp in current API versions, so one cursor fits all.
Pipewise's own writeback fields (Pipewise_*__c) are not read: they are ours, and reading them
would turn every writeback into an incoming change.

Only standard fields are listed (Object Reference for the Salesforce Platform); a custom field
reaches Pipewise through the admin's field mapping. The client still selects only the fields the
org's describe lists for the integration user, so a field hidden by field-level security is left
out with a note instead of failing the query.
"""
from __future__ import annotations

from connectors.base import Stream

# Read on every object: bookkeeping for the cursor, deletes and the common Remote columns.
SYSTEM_FIELDS = ("Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp")


class SalesforceStream(Stream):
    cursor_field = "SystemModstamp"
    primary_key = "Id"
    page_size = 2000  # the REST query maximum


class Users(SalesforceStream):
    name = "user"
    object_type = "user"
    remote_name = "User"
    # Profile.PermissionsModifyAllData marks the org's admins; UserRoleId places the user in the role
    # hierarchy, ManagerId in the reporting line (the team panel's teams come from both).
    # TimeZoneSidKey (required on every User, an IANA id) is the zone Pipewise shows the user's times in.
    fields = ("Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "Username", "Name",
              "FirstName", "LastName", "Email", "Title", "Department", "IsActive", "ManagerId",
              "ProfileId", "UserRoleId", "Profile.PermissionsModifyAllData", "TimeZoneSidKey")
    # Users are deactivated, never deleted: User has no IsDeleted field.
    reports_deletes = False


class UserRoles(SalesforceStream):
    """The role hierarchy: a user sees the records of the roles below theirs."""

    name = "user_role"
    object_type = "user_role"
    remote_name = "UserRole"
    fields = ("Id", "Name", "ParentRoleId", "LastModifiedDate", "SystemModstamp")
    # UserRole has no IsDeleted (Object Reference); a removed role simply stops being referenced.
    reports_deletes = False
    backfill = False  # a handful of rows in any org: not even counted for a bulk read


class Accounts(SalesforceStream):
    name = "account"
    object_type = "account"
    remote_name = "Account"
    fields = SYSTEM_FIELDS + ("Name", "Industry", "Website", "AnnualRevenue", "NumberOfEmployees",
                              "BillingCountry", "YearStarted", "ParentId", "OwnerId")


class Contacts(SalesforceStream):
    name = "contact"
    object_type = "contact"
    remote_name = "Contact"
    fields = SYSTEM_FIELDS + ("FirstName", "LastName", "Email", "Title", "Phone", "LeadSource",
                              "AccountId", "OwnerId")


class Leads(SalesforceStream):
    name = "lead"
    object_type = "lead"
    remote_name = "Lead"
    fields = SYSTEM_FIELDS + ("FirstName", "LastName", "Email", "Company", "Title", "Industry",
                              "Country", "LeadSource", "Status", "Rating", "IsConverted",
                              "ConvertedDate", "ConvertedAccountId", "ConvertedContactId",
                              "ConvertedOpportunityId", "OwnerId")


class Opportunities(SalesforceStream):
    name = "opportunity"
    object_type = "opportunity"
    remote_name = "Opportunity"
    fields = SYSTEM_FIELDS + ("Name", "AccountId", "OwnerId", "CampaignId", "StageName", "Amount",
                              "Probability", "CloseDate", "IsClosed", "IsWon", "LeadSource", "Type")
    # Object Reference, Opportunity: CurrencyIsoCode is "available only for organizations with the
    # multicurrency feature enabled"; selecting it elsewhere fails with INVALID_FIELD.
    when_present = ("CurrencyIsoCode",)


class OpportunityHistories(SalesforceStream):
    name = "opportunity_history"
    object_type = "opportunity_stage_change"
    remote_name = "OpportunityHistory"
    fields = ("Id", "IsDeleted", "CreatedDate", "SystemModstamp", "OpportunityId", "StageName",
              "Amount", "Probability", "CloseDate")
    when_present = ("CurrencyIsoCode",)


class Tasks(SalesforceStream):
    name = "task"
    object_type = "activity"
    remote_name = "Task"
    fields = SYSTEM_FIELDS + ("Subject", "Status", "TaskSubtype", "ActivityDate", "OwnerId", "WhoId",
                              "WhatId")


class Events(SalesforceStream):
    name = "event"
    object_type = "activity"
    remote_name = "Event"
    fields = SYSTEM_FIELDS + ("Subject", "ActivityDateTime", "ActivityDate", "EndDateTime",
                              "DurationInMinutes", "OwnerId", "WhoId", "WhatId")


class Campaigns(SalesforceStream):
    name = "campaign"
    object_type = "campaign"
    remote_name = "Campaign"
    fields = SYSTEM_FIELDS + ("Name", "Type", "Status", "StartDate", "EndDate")


class CampaignMembers(SalesforceStream):
    name = "campaign_member"
    object_type = "campaign_member"
    remote_name = "CampaignMember"
    fields = SYSTEM_FIELDS + ("CampaignId", "LeadId", "ContactId", "Status", "HasResponded",
                              "FirstRespondedDate")


class ForecastingQuotas(SalesforceStream):
    """Collaborative forecasting quotas: one per person, forecast type and period.

    Optional: the object exists only with Collaborative Forecasts on and needs forecasting access;
    without it the sync skips quotas with a note. It has no IsDeleted (Object Reference).
    """

    name = "forecasting_quota"
    object_type = "quota"
    remote_name = "ForecastingQuota"
    fields = ("Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "QuotaOwnerId", "StartDate",
              "QuotaAmount", "ForecastingTypeId")
    when_present = ("CurrencyIsoCode",)  # multi-currency orgs: the quota's currency
    reports_deletes = False
    optional = True


class CurrencyTypes(SalesforceStream):
    """The org's currencies and their current rates (Object Reference, CurrencyType).

    Optional: the object exists only in multi-currency orgs; a single-currency org skips it and
    keeps its amounts as they are. ConversionRate is "against the corporate currency": one corporate
    unit is worth ConversionRate units of the currency. No IsDeleted: currencies are deactivated,
    never deleted.
    """

    name = "currency_type"
    object_type = "currency_rate"
    remote_name = "CurrencyType"
    fields = ("Id", "IsoCode", "ConversionRate", "IsCorporate", "IsActive", "CreatedDate", "LastModifiedDate",
              "SystemModstamp")
    reports_deletes = False
    backfill = False  # a handful of rows in any org: not even counted for a bulk read
    optional = True
    quiet_when_missing = True


class DatedConversionRates(SalesforceStream):
    """Dated rates under advanced currency management (Object Reference, DatedConversionRate).

    Optional: only multi-currency orgs with advanced currency management have the object. Each rate
    applies from StartDate to the day before NextStartDate (null: still applies). No IsDeleted.
    """

    name = "dated_conversion_rate"
    object_type = "currency_rate"
    remote_name = "DatedConversionRate"
    fields = ("Id", "IsoCode", "ConversionRate", "StartDate", "NextStartDate", "CreatedDate", "LastModifiedDate",
              "SystemModstamp")
    reports_deletes = False
    backfill = False  # a handful of rows in any org: not even counted for a bulk read
    optional = True
    quiet_when_missing = True


# Parents before children, so a first sync meets references it already knows.
ALL: tuple[type[SalesforceStream], ...] = (
    CurrencyTypes, DatedConversionRates, UserRoles, Users, Accounts, Contacts, Campaigns, Leads, Opportunities, OpportunityHistories,
    CampaignMembers, Tasks, Events, ForecastingQuotas,
)
