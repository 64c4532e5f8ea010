"""Long admin work runs on a worker, never in the request: queued here, watched on a progress page.

Every job an admin starts carries their organization in its meta, so one organization's admin
never sees another's jobs. A job that must not run twice (a model's retraining) takes a fixed id,
and a second request while it is queued or running is told so instead of queueing another.
"""
from __future__ import annotations

from flask import abort, jsonify, render_template, url_for
from rq.exceptions import NoSuchJobError
from rq.job import Job

from sync.job_chain import Job as QueueJob
from web.admin import bp, organization_id
from web.extensions import runtime

ACTIVE = ("queued", "started", "deferred", "scheduled")
LABELS = {"queued": "Waiting for a worker", "started": "Running", "deferred": "Waiting for another job",
          "scheduled": "Scheduled", "finished": "Done", "failed": "Failed", "stopped": "Stopped",
          "canceled": "Canceled"}


def start(work: QueueJob, *args, title: str, job_id: str | None = None) -> Job | None:
    """Queue an admin's job (one of ``sync.job_chain``'s) on its queue with its timeout; with ``job_id``,
    None when that job is already queued or running."""
    rt = runtime()
    if job_id is not None:
        # One request at a time decides whether the job is running: no two can both queue it.
        with rt.redis.lock(f"pipewise:admin-job-lock:{job_id}", timeout=30, blocking_timeout=10):
            if _status(rt.redis, job_id) in ACTIVE:
                return None
            return work.enqueue(rt.queues, *args, job_id=job_id,
                                meta={"organization_id": organization_id(), "title": title})
    return work.enqueue(rt.queues, *args, meta={"organization_id": organization_id(), "title": title})


def _status(redis, job_id: str) -> str | None:
    try:
        return status_of(Job.fetch(job_id, connection=redis))
    except NoSuchJobError:
        return None


def status_of(job: Job) -> str:
    """The job's status as plain text (RQ answers an enum)."""
    status = job.get_status(refresh=True) or "queued"
    return str(getattr(status, "value", status))


def _own_job(job_id: str) -> Job:
    if len(job_id) > 128:
        abort(404)
    try:
        job = Job.fetch(job_id, connection=runtime().redis)
    except NoSuchJobError:
        abort(404)
    if job.meta.get("organization_id") != organization_id() or organization_id() is None:
        abort(404)
    return job


def describe(job: Job) -> dict:
    """What the progress page shows of a job."""
    status = status_of(job)
    progress = job.meta.get("progress") or {}
    return {"id": job.id, "title": job.meta.get("title", "Background work"), "status": status,
            "label": LABELS.get(status, status), "done": status not in ACTIVE,
            "failed": status in ("failed", "stopped", "canceled"), "step": progress.get("step"),
            "steps_done": progress.get("done"), "steps_total": progress.get("total"),
            "summary": job.meta.get("summary") if status == "finished" else None,
            "url": url_for("admin.job", job_id=job.id)}


def running(job_id: str) -> dict | None:
    """The organization's job with this id while it is queued or running (as the progress page shows it), else None."""
    try:
        job = Job.fetch(job_id, connection=runtime().redis)
    except NoSuchJobError:
        return None
    if job.meta.get("organization_id") != organization_id() or status_of(job) not in ACTIVE:
        return None
    return describe(job)


@bp.get("/jobs/<job_id>")
def job(job_id: str):
    """A job's progress; the page reloads itself until the job is done."""
    return render_template("admin/job.html", job=describe(_own_job(job_id)))


@bp.get("/jobs/<job_id>.json")
def job_json(job_id: str):
    """A job's progress as JSON."""
    return jsonify(describe(_own_job(job_id)))
