"""The normalized store: every table Pipewise keeps, one module per group of tables.

- ``base``: the declarative base and the store's clock (naive UTC).
- ``tenancy``: organizations and their connections.
- ``records``: the synced common objects (accounts, contacts, leads, deals and their stage history,
  activities, users, roles, campaigns and members, quotas (synced or set by an admin), currency rates, stages).
- ``sync_state``: cursors, the backfill's seen ids, the run log, the webhook inbox.
- ``scores``: model versions, scores, score history, the fields an admin vouched for.
- ``writeback_ledger``: what Pipewise last wrote to each remote field.
- ``field_mappings``: an admin's field mappings and writeback field choices.
- ``rollups``: what the sync keeps summed for the team panel.
- ``forecasts``: forecast snapshots and forecast calls.
- ``api_keys`` and ``audit_log``: the JSON API's keys and the tamper-evident audit log.

Beside the tables: ``common_columns`` (the record tables' columns, derived from connectors.common),
``db`` (engines and sessions), ``crypto`` (token sets encrypted at rest), ``erasure`` (removing a
person or a connection from every table; its queue jobs are ``sync.erasure_jobs``), and
``private_files`` (var/, readable by Pipewise's user only). Importing this package registers every table on
``Base.metadata``.
"""
from __future__ import annotations

from sync.store.api_keys import ApiKey
from sync.store.audit_log import AuditEntry
from sync.store.base import Base, utcnow
from sync.store.field_mappings import FieldMapping, WritebackFieldSetting
from sync.store.forecasts import ForecastCall, ForecastSnapshot
from sync.store.records import (SYNCED_MODELS, Account, Activity, Campaign, CampaignMember, Contact, CrmRole,
                                CrmStage, CurrencyRate, Lead, Opportunity, OpportunityStageChange, Quota, SyncedRecord,
                                User)
from sync.store.rollups import (ActivityDayCount, ActivityMonthCount, OpenDealState, OpportunityMonthRollup,
                                OpportunityStageFact, StageEntryMonth, StageEntryOwnerMonth)
from sync.store.scores import FeatureOverride, ModelVersion, Score, ScoreHistory
from sync.store.sync_state import BackfillSeen, SyncCursor, SyncRun, WebhookEvent
from sync.store.tenancy import Connection, Organization
from sync.store.writeback_ledger import WritebackLedger
