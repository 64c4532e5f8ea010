"""What the team panel says when a manager's scope is empty, rather than showing a team of zeros."""
from __future__ import annotations

from connectors import registry
from scoring.scope import Subject, Viewer, team_leader_instead


def leads_nobody(viewer: Viewer, subject: Subject) -> bool:
    """Whether a manager opened their own panel and the CRM gives them no one to lead."""
    return viewer.role == "manager" and subject.kind == "rep" and subject.remote_id == viewer.user_remote_id


def leads_nobody_notice(session, provider_key: str, viewer: Viewer) -> str:
    """Why a manager's panel shows no team, in words, and where their team is when it has another leader."""
    crm = registry.get(provider_key).provider.name
    words = (f"{crm} lists nobody who reports to you, so there is no team to show: the panel shows only the "
             "deals and leads you own yourself.")
    shared = team_leader_instead(session, viewer.organization_id, viewer.user_remote_id)
    if shared:
        team, leader = shared
        words += (f" Your team, {team}, is on {leader}'s panel: where a team has several managers, Pipewise "
                  "counts its reps under the first one.")
    return words + f" A {crm} admin sees the whole organization."
