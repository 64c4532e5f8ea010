"""Models: each target's model card, its version history, and retraining on demand."""
from __future__ import annotations

import importlib

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from scoring.records.card_words import factor_shares, feature_name, headline
from scoring.records.model_overrides import keep_feature as keep_override
from scoring.records.model_overrides import release_feature as release_override
from scoring.records.targets import TARGETS
from sync.job_chain import RETRAIN
from sync.stages import stage_names
from sync.store import ModelVersion
from web.admin import bp, jobs, organization_id, record
from web.extensions import runtime
from web.signed_in import actor


def retrain_available() -> bool:
    """Whether the scoring layer offers the retrain job yet."""
    module, _, name = RETRAIN.path.rpartition(".")
    try:
        return callable(getattr(importlib.import_module(module), name, None))
    except ImportError:
        return False


@bp.get("/models")
def models():
    """Per target: the active version's card and every version trained."""
    with runtime().sessions() as db:
        versions = db.scalars(select(ModelVersion).where(ModelVersion.organization_id == organization_id())
                              .order_by(ModelVersion.trained_at.desc(), ModelVersion.id.desc())).all()
    by_target = {target: [v for v in versions if v.target == target] for target in TARGETS}
    for version in versions:
        by_target.setdefault(version.target, [])
    active = {target: next((v for v in rows if v.is_active), None) for target, rows in by_target.items()}
    return _page(by_target, active, None)


def _page(by_target: dict, active: dict, shown):
    """The models page, with a training state for each target being retrained now."""
    training = {target: jobs.running(retrain_job_id(target)) for target in by_target}
    with runtime().sessions() as db:
        stages = stage_names(db, organization_id())
    return render_template("admin/models.html", by_target=by_target, active=active, shown=shown,
                           retrain=retrain_available(), training=training, headline=headline,
                           factor_shares=factor_shares, feature_name=feature_name, stage_label=stages.label)


def retrain_job_id(target: str) -> str:
    """The fixed id of an organization's retrain of one target: one at a time."""
    return f"retrain-{organization_id()}-{target}"


@bp.get("/models/<int:version_id>")
def model_version(version_id: int):
    """The card of one version (active or not)."""
    with runtime().sessions() as db:
        version = db.get(ModelVersion, version_id)
        if version is None or version.organization_id != organization_id():
            abort(404)
        history = db.scalars(select(ModelVersion).where(ModelVersion.organization_id == organization_id(),
                                                        ModelVersion.target == version.target)
                             .order_by(ModelVersion.trained_at.desc(), ModelVersion.id.desc())).all()
    return _page({version.target: history}, {version.target: version}, version)


@bp.post("/models/retrain")
def retrain():
    """Queue a retrain of one target's model for the organization."""
    target = request.form.get("target", "")
    if target not in TARGETS or organization_id() is None:
        abort(400)
    if not retrain_available():
        flash("Retraining on demand is not available in this version of Pipewise yet; models retrain "
              "on their schedule.", "error")
        return redirect(url_for("admin.models"))
    # One retrain per model at a time: a second request while one is queued or running queues nothing.
    job = jobs.start(RETRAIN, organization_id(), target, title=f"Retraining the {target} model",
                     job_id=retrain_job_id(target))
    if job is None:
        flash(f"The {target} model is already being retrained; Pipewise starts no second retrain until this "
              "one is done.", "info")
        return redirect(url_for("admin.job", job_id=retrain_job_id(target)))
    with runtime().sessions() as db:
        record(db, "model.retrain", f"model:{target}")
        db.commit()
    flash(f"Retraining the {target} model was queued. The new version becomes active only if it scores "
          "at least as well as the current one on recent outcomes.", "info")
    # The job's own page follows the work; the card shows the same training state until the new version is in.
    return redirect(url_for("admin.job", job_id=job.id))


def _target_and_feature() -> tuple[str, str]:
    """The target and feature a card's button names (400 when either is not understood)."""
    target, feature = request.form.get("target", ""), request.form.get("feature", "").strip()
    if target not in TARGETS or not feature or organization_id() is None:
        abort(400)
    return target, feature


@bp.post("/models/keep")
def keep_feature():
    """An admin confirms a field the guard left out is known before the outcome; the next training keeps it."""
    target, feature = _target_and_feature()
    with runtime().sessions() as db:
        keep_override(db, organization_id(), target, feature, actor())
        record(db, "model.keep_feature", f"model:{target}", {"feature": feature})
        db.commit()
    flash(f"{feature} will be kept in the {target} model from its next training; the card will show whose word "
          "it was. Retrain now to apply it at once.", "info")
    return redirect(url_for("admin.models"))


@bp.post("/models/release")
def release_feature():
    """Withdraw an admin's override: the leakage guard decides about the field again."""
    target, feature = _target_and_feature()
    with runtime().sessions() as db:
        release_override(db, organization_id(), target, feature)
        record(db, "model.release_feature", f"model:{target}", {"feature": feature})
        db.commit()
    flash(f"The leakage guard decides about {feature} again from the {target} model's next training.", "info")
    return redirect(url_for("admin.models"))
