"""Bulk API 2.0 query jobs: their state, their frozen results, and when they are cleaned up.

Bulk API 2.0 and Bulk API Developer Guide:
- "Get Information About a Query Job" (query_get_one_job.htm): the job info fields and the states
  UploadComplete, InProgress, JobComplete, Aborted, Failed; jobType is always V2Query.
- "Step 6: Query Jobs" (query_walkthrough.htm): a created job answers with state UploadComplete and is
  then polled until JobComplete. Here each poll moves a job one state on, so a client always polls at
  least once before the results are there.
- Salesforce Developer Limits, "Bulk API and Bulk API 2.0 Limits and Allocations": jobs in a terminal
  state older than 7 days are deleted; 10,000 query jobs per rolling 24 hours.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .clock import SandboxClock, format_datetime
from .ids import make_id

JOB_LIFESPAN = timedelta(days=7)
DAILY_QUERY_JOBS = 10_000
TERMINAL = ("JobComplete", "Aborted", "Failed")
# The documented progression of a query job; each GET of the job moves it one step.
PROGRESSION = {"UploadComplete": "InProgress", "InProgress": "JobComplete"}


@dataclass
class QueryJob:
    """One query job and, once it ran, its result rows (the REST records it selected)."""

    id: str
    operation: str
    object: str
    created_by: str
    created: datetime
    api_version: str
    column_delimiter: str
    line_ending: str
    columns: list[str]
    datetime_columns: set[str]
    fails: bool = False
    records: list[dict[str, Any]] = field(repr=False, default_factory=list)
    state: str = "UploadComplete"
    modified: datetime | None = None

    def info(self, full: bool = True) -> dict[str, Any]:
        """The job info JSON; the create answer leaves out jobType and the processing figures."""
        answer: dict[str, Any] = {
            "id": self.id, "operation": self.operation, "object": self.object, "createdById": self.created_by,
            "createdDate": format_datetime(self.created),
            "systemModstamp": format_datetime(self.modified or self.created), "state": self.state,
            "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(self.api_version),
        }
        if self.state == "Failed":
            answer["errorMessage"] = "The query job failed after 15 internal retries: add filters and try again."
        if full:
            answer["jobType"] = "V2Query"
        answer.update({"lineEnding": self.line_ending, "columnDelimiter": self.column_delimiter})
        if full:
            done = self.state == "JobComplete"
            answer.update({"numberRecordsProcessed": len(self.records) if done else 0, "retries": 0,
                           "totalProcessingTime": 0})
        return answer


class QueryJobs:
    """Every query job of the org, by id."""

    def __init__(self, clock: SandboxClock, next_number: Callable[[], int]):
        self._clock = clock
        self._jobs: dict[str, QueryJob] = {}
        self._created: list[datetime] = []
        # Query job ids start with 750 (the docs' examples: 750R0000000zlh9IAA), numbered by the store's
        # persisted counter so that a job id from before a restart never names a new job.
        self._next_number = next_number
        self._lock = threading.Lock()

    def created_today(self) -> int:
        """Jobs created in the rolling 24 hours."""
        with self._lock:
            since = self._clock.now() - timedelta(hours=24)
            self._created = [moment for moment in self._created if moment > since]
            return len(self._created)

    def allowance_left(self) -> bool:
        """Whether another job fits in the rolling 24 hours."""
        return self.created_today() < DAILY_QUERY_JOBS

    def add(self, **values: Any) -> QueryJob:
        with self._lock:
            now = self._clock.now()
            job = QueryJob(id=make_id("750", self._next_number()), created=now, **values)
            self._jobs[job.id] = job
            self._created.append(now)
            return job

    def get(self, job_id: str) -> QueryJob | None:
        with self._lock:
            self._clean_up()
            return self._jobs.get(job_id)

    def poll(self, job_id: str) -> QueryJob | None:
        """The job as a GET sees it: one state further along than at the last look."""
        with self._lock:
            self._clean_up()
            job = self._jobs.get(job_id)
            if job is not None and job.state in PROGRESSION:
                job.state = PROGRESSION[job.state]
                if job.state == "JobComplete" and job.fails:
                    job.state, job.records = "Failed", []
                job.modified = self._clock.now()
            return job

    def all(self) -> list[QueryJob]:
        with self._lock:
            self._clean_up()
            return list(self._jobs.values())

    def set_state(self, job: QueryJob, state: str) -> None:
        with self._lock:
            job.state, job.modified = state, self._clock.now()
            if state == "Aborted":
                job.records = []

    def remove(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)

    def expire_all(self) -> int:
        """Delete every job now (as the 7-day clean-up would); returns how many."""
        with self._lock:
            count = len(self._jobs)
            self._jobs.clear()
            return count

    def _clean_up(self) -> None:
        cutoff = self._clock.now() - JOB_LIFESPAN
        for job_id in [j.id for j in self._jobs.values()
                       if j.state in TERMINAL and j.created < cutoff]:
            del self._jobs[job_id]
