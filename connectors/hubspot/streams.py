"""The HubSpot objects Pipewise reads, one declaration each.

Every CRM object pages on its last-modified property through the search API (contacts call it
``lastmodifieddate``, the others ``hs_lastmodifieddate``). Owners have no search and no cursor:
they are listed in full on every run (a portal has tens or hundreds of them). HubSpot teams are
not a common object: an owner's primary team lands on the user's ``team``.

Pipewise's own writeback properties (pipewise_*) are never read: they are ours, and reading them
would turn every writeback into an incoming change.
"""
from __future__ import annotations

from connectors.base import Stream


class HubSpotStream(Stream):
    primary_key = "hs_object_id"
    cursor_field = "hs_lastmodifieddate"
    # The search API takes at most 200 per page; fewer calls matter at ~4 searches a second.
    page_size = 200
    # Deletes come from the archived listing (the search API never returns archived records).
    reports_deletes = True
    # Incremental streams are read through the search API on their cursor; the others are listings.
    # The scope that reads the object (the `security` of its operations in HubSpot's API descriptions).
    scope = "crm.objects.contacts.read"


class Owners(HubSpotStream):
    name = "owner"
    object_type = "user"
    remote_name = "owners"
    fields = ("id", "email", "firstName", "lastName", "userId", "createdAt", "updatedAt", "archived",
              "teams")
    primary_key = "id"
    cursor_field = "updatedAt"
    page_size = 100
    incremental = False
    # Owners who leave are archived, which means inactive, not deleted.
    reports_deletes = False
    scope = "crm.objects.owners.read"


class Companies(HubSpotStream):
    name = "company"
    object_type = "account"
    remote_name = "companies"
    scope = "crm.objects.companies.read"
    fields = ("hs_object_id", "createdate", "hs_lastmodifieddate", "name", "industry", "domain",
              "website", "annualrevenue", "numberofemployees", "country", "founded_year",
              "hs_parent_company_id", "hubspot_owner_id")


class Contacts(HubSpotStream):
    """Every contact is a lead (converted once a customer); customers are contacts too (see mapping)."""

    name = "contact"
    object_type = "lead"
    also_maps_to = ("contact",)
    remote_name = "contacts"
    cursor_field = "lastmodifieddate"
    fields = ("hs_object_id", "createdate", "lastmodifieddate", "firstname", "lastname", "email",
              "jobtitle", "phone", "company", "industry", "country", "lifecyclestage",
              "hs_lead_status", "hs_analytics_source", "hubspot_owner_id", "associatedcompanyid",
              "hs_lifecyclestage_opportunity_date", "hs_lifecyclestage_customer_date",
              "hs_lifecyclestage_evangelist_date")
    # A customer's deal is the opportunity its lead became (the mapping's converted_opportunity_remote_id).
    associations = ("deals",)


class Deals(HubSpotStream):
    """Deals, and their stage history as stage-change records (``<dealId>-<epoch ms>``)."""

    name = "deal"
    object_type = "opportunity"
    also_maps_to = ("opportunity_stage_change",)
    remote_name = "deals"
    scope = "crm.objects.deals.read"
    fields = ("hs_object_id", "createdate", "hs_lastmodifieddate", "dealname", "dealstage", "pipeline",
              "amount", "closedate", "hs_deal_stage_probability", "hs_is_closed", "hs_is_closed_won",
              "dealtype", "hubspot_owner_id", "hs_analytics_source", "product", "deal_currency_code")
    associations = ("companies",)
    history_properties = ("dealstage", "amount", "closedate", "hs_deal_stage_probability")
    # Not HubSpot's own: read where a portal has such a custom property (HubSpot leaves out properties
    # that do not exist), and not expected by the preflight.
    custom_fields = ("product",)


class EngagementStream(HubSpotStream):
    object_type = "activity"
    associations = ("contacts", "deals", "companies")
    kind = "task"


class Calls(EngagementStream):
    name = "call"
    kind = "call"
    remote_name = "calls"
    fields = ("hs_object_id", "createdate", "hs_lastmodifieddate", "hs_timestamp", "hs_call_title",
              "hs_call_status", "hs_call_duration", "hubspot_owner_id")


class Emails(EngagementStream):
    name = "email"
    kind = "email"
    remote_name = "emails"
    fields = ("hs_object_id", "createdate", "hs_lastmodifieddate", "hs_timestamp", "hs_email_subject",
              "hs_email_status", "hs_email_direction", "hubspot_owner_id")


class Meetings(EngagementStream):
    name = "meeting"
    kind = "meeting"
    remote_name = "meetings"
    fields = ("hs_object_id", "createdate", "hs_lastmodifieddate", "hs_timestamp", "hs_meeting_title",
              "hs_meeting_outcome", "hs_meeting_start_time", "hs_meeting_end_time", "hubspot_owner_id")


class Notes(EngagementStream):
    name = "note"
    kind = "note"
    remote_name = "notes"
    fields = ("hs_object_id", "createdate", "hs_lastmodifieddate", "hs_timestamp", "hs_note_body",
              "hubspot_owner_id")


class Tasks(EngagementStream):
    name = "task"
    kind = "task"
    remote_name = "tasks"
    fields = ("hs_object_id", "createdate", "hs_lastmodifieddate", "hs_timestamp", "hs_task_subject",
              "hs_task_status", "hs_task_type", "hubspot_owner_id")


class GoalTargets(HubSpotStream):
    """Goal targets (quotas): per owner, or per team (those are not anyone's quota; see mapping)."""

    name = "goal_target"
    object_type = "quota"
    remote_name = "goal_targets"
    # Goals come with some HubSpot subscriptions only, and their scope is optional: without it the sync
    # skips them and quotas are set in Pipewise.
    optional = True
    scope = "crm.objects.goals.read"
    unavailable_note = "(quotas) are not read; set quotas in Pipewise instead"
    fields = ("hs_object_id", "createdate", "hs_lastmodifieddate", "hs_goal_name", "hs_target_amount",
              "hs_start_datetime", "hs_end_datetime", "hs_assignee_user_id", "hs_assignee_team_id")
    user_property = "hs_assignee_user_id"


class ExchangeRates(HubSpotStream):
    """The company currency and the current rate of each other currency into it (connectors.hubspot.currencies).

    Optional: ``settings.currencies.read`` is an optional scope; without it deals in other currencies
    have no rate, and the panels leave them out of totals and say so.
    """

    name = "exchange_rate"
    object_type = "currency_rate"
    remote_name = "exchange_rates"
    fields = ("id", "currencyCode", "conversionRate", "fromCurrencyCode", "toCurrencyCode", "updatedAt")
    primary_key = "id"
    cursor_field = "updatedAt"
    incremental = False
    reports_deletes = False
    optional = True
    scope = "settings.currencies.read"
    unavailable_note = ("are not read; deals in other currencies than the company currency are left out of "
                        "totals")


class DealStages(HubSpotStream):
    """The deal pipelines' stages: the label people read for each ``dealstage`` id, and the board's order.

    Read whole on every run (a portal has a few pipelines); any deal scope reads them, and
    ``crm.objects.deals.read`` is required anyway (connectors.hubspot.pipelines).
    """

    name = "deal_stage"
    object_type = "stage"
    remote_name = "pipelines"
    fields = ("id", "label", "displayOrder", "metadata", "pipelineId", "pipelineLabel", "pipelineDisplayOrder",
              "updatedAt")
    primary_key = "id"
    cursor_field = "updatedAt"
    incremental = False
    # A stage removed from a pipeline keeps its label here: deals' stage histories still name it.
    reports_deletes = False
    scope = "crm.objects.deals.read"


# Parents before children, so a first sync meets references it already knows.
ALL: tuple[type[HubSpotStream], ...] = (
    ExchangeRates, DealStages, Owners, Companies, Contacts, Deals, Calls, Emails, Meetings, Notes, Tasks, GoalTargets,
)
