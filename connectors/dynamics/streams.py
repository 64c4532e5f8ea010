"""Dataverse tables Pipewise reads, as streams: entity set, primary key and the columns to select.

Every table is read through change tracking (its delta link is the stream's opaque token, deleted rows come
as $deletedEntity). A table whose change tracking is off is read on ``modifiedon`` ordered by
(modifiedon, primary key), the engine's (cursor, id) contract; its deletes arrive only through webhooks.
"""
from __future__ import annotations

from connectors.base import Stream

_ACTIVITY = ("activityid", "subject", "statecode", "statuscode", "scheduledstart", "scheduledend", "actualend",
             "_regardingobjectid_value", "_ownerid_value", "createdon", "modifiedon")


class DynamicsStream(Stream):
    cursor_field = "modifiedon"
    page_size = 1000
    delta = True
    # A deleted row is not in a modifiedon listing (the fallback): deletes come from change tracking, or
    # where it is off, through webhooks and targeted reads.
    reports_deletes = False


class Accounts(DynamicsStream):
    name, object_type, remote_name, primary_key = "accounts", "account", "accounts", "accountid"
    fields = ("accountid", "name", "websiteurl", "revenue", "numberofemployees", "address1_country",
              "_parentaccountid_value", "_ownerid_value", "createdon", "modifiedon")


class Contacts(DynamicsStream):
    name, object_type, remote_name, primary_key = "contacts", "contact", "contacts", "contactid"
    fields = ("contactid", "firstname", "lastname", "emailaddress1", "jobtitle", "telephone1",
              "_parentcustomerid_value", "_ownerid_value", "createdon", "modifiedon")


class Leads(DynamicsStream):
    name, object_type, remote_name, primary_key = "leads", "lead", "leads", "leadid"
    fields = ("leadid", "firstname", "lastname", "emailaddress1", "companyname", "jobtitle", "address1_country",
              "leadsourcecode", "statecode", "statuscode", "_qualifyingopportunityid_value", "_parentaccountid_value",
              "_parentcontactid_value", "_ownerid_value", "createdon", "modifiedon")


class Opportunities(DynamicsStream):
    name, object_type, remote_name, primary_key = "opportunities", "opportunity", "opportunities", "opportunityid"
    fields = ("opportunityid", "name", "estimatedvalue", "actualvalue", "estimatedclosedate", "actualclosedate",
              "closeprobability", "stepname", "statecode", "statuscode", "_parentaccountid_value",
              "_customerid_value", "_campaignid_value", "_ownerid_value", "createdon", "modifiedon")


class Tasks(DynamicsStream):
    name, object_type, remote_name, primary_key, kind = "tasks", "activity", "tasks", "activityid", "task"
    fields = _ACTIVITY


class PhoneCalls(DynamicsStream):
    name, object_type, remote_name, primary_key, kind = "phonecalls", "activity", "phonecalls", "activityid", "call"
    fields = _ACTIVITY


class Appointments(DynamicsStream):
    name, object_type, remote_name, primary_key = "appointments", "activity", "appointments", "activityid"
    kind = "meeting"
    fields = _ACTIVITY


class Emails(DynamicsStream):
    name, object_type, remote_name, primary_key, kind = "emails", "activity", "emails", "activityid", "email"
    fields = _ACTIVITY


class SystemUsers(DynamicsStream):
    name, object_type, remote_name, primary_key = "systemusers", "user", "systemusers", "systemuserid"
    fields = ("systemuserid", "fullname", "internalemailaddress", "domainname", "title", "isdisabled",
              "_parentsystemuserid_value", "createdon", "modifiedon")


class Campaigns(DynamicsStream):
    name, object_type, remote_name, primary_key = "campaigns", "campaign", "campaigns", "campaignid"
    fields = ("campaignid", "name", "typecode", "statecode", "statuscode", "actualstart", "actualend",
              "createdon", "modifiedon")


class Goals(DynamicsStream):
    """Goals (reference/entities/goal.md): a user's money goal for a period is their quota (mapping keeps those).

    goalownerid is a systemuser or a team; isamount and amountdatatype are the goal metric's (Amount/Count,
    Money/Decimal/Integer); statuscode 2 is Discarded. Goals come with Dynamics 365 Sales: an environment
    without the table, or a connecting user who may not read it, syncs without them.
    """

    name, object_type, remote_name, primary_key = "goals", "quota", "goals", "goalid"
    fields = ("goalid", "title", "_goalownerid_value", "goalstartdate", "goalenddate", "fiscalperiod", "fiscalyear",
              "isamount", "amountdatatype", "targetmoney", "_metricid_value", "_parentgoalid_value", "statecode",
              "statuscode", "createdon", "modifiedon")
    optional = True
    unavailable_note = "(quotas) are not read; set quotas in Pipewise instead"


ALL: tuple[type[Stream], ...] = (SystemUsers, Accounts, Contacts, Leads, Campaigns, Opportunities, Tasks,
                                  PhoneCalls, Appointments, Emails, Goals)
