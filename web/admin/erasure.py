"""Data-subject erasure: find a person by e-mail, show what Pipewise holds, erase after confirmation."""
from __future__ import annotations

from flask import current_app, render_template, request, url_for
from sqlalchemy import select

from sync.job_chain import ERASURE_COMPACT
from sync.store import Connection, erasure
from web.admin import bp, jobs, organization_id, record
from web.extensions import runtime
from web.template_filters import connection_name, crm_name


@bp.get("/erasure")
def erasure_form():
    """Ask for the person's e-mail address."""
    return render_template("admin/erasure.html", step="ask")


@bp.post("/erasure/find")
def erasure_find():
    """Show every record about the person, and ask to confirm."""
    email = request.form.get("email", "").strip()
    if "@" not in email:
        return render_template("admin/erasure.html", step="ask", email=email,
                               error="Enter the person's full e-mail address, like name@example.com."), 400
    with runtime().sessions() as db:
        findings = erasure.find_person(db, organization_id(), email) if organization_id() else erasure.Findings()
        connections = {c.id: f"{crm_name(c.provider)} · {connection_name(c)}" for c in db.scalars(
            select(Connection).where(Connection.organization_id == organization_id()))}
    return render_template("admin/erasure.html", step="confirm", email=email, findings=findings,
                           connections=connections)


@bp.post("/erasure/erase")
def erasure_erase():
    """Erase the person, record it without their address, and queue the store's compaction."""
    email = request.form.get("email", "").strip()
    if "@" not in email or request.form.get("confirm") != "yes" or organization_id() is None:
        return render_template("admin/erasure.html", step="ask", email=email,
                               error="Find the person first, then confirm the erasure."), 400
    rt = runtime()
    with rt.sessions() as db:
        counts = erasure.erase_person(db, organization_id(), email)
        record(db, "erasure.erase", "person", {
            "subject": erasure.subject_key(current_app.config["SECRET_KEY"], email), "counts": counts})
        db.commit()
    # Rewriting the file (VACUUM) takes long on a large store: a worker does it, the admin watches.
    job = jobs.start(ERASURE_COMPACT, title="Compacting the store after an erasure")
    return render_template("admin/erasure.html", step="done", counts=counts, job_url=url_for("admin.job", job_id=job.id))
