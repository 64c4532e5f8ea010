"""Who sees what on the manager's panel: an admin everything, a manager their team, a rep themselves.

Roles come from what the CRM records, never from words in a job title: an admin is who the CRM
makes one (a Salesforce profile or permission set with Modify All Data, a HubSpot super admin); a
manager is whoever leads someone. Teams come from the CRM's reporting line (User.manager_remote_id)
and its role hierarchy (Salesforce UserRole: the users in the roles below one's own), both followed
recursively in SQL, so a director sees the teams of the managers below them. A scope is a frozenset
of owner remote ids, or None for the whole organization. The roles themselves are declared once, where a
connector first names one: ``connectors.signin.ROLES``.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from sync.store import CrmRole, User


@dataclass(frozen=True)
class Viewer:
    """The person looking at the panel, as a verified signed request or panel token names them."""

    organization_id: int
    user_remote_id: str
    role: str


class OutOfScope(Exception):
    """The viewer asked for someone they may not see."""


def viewer_role(session: Session, organization_id: int, user_remote_id: str | None) -> str:
    """admin as the CRM says; manager for whoever leads someone; a rep otherwise (also when unknown)."""
    if not user_remote_id:
        return "rep"
    role = session.scalar(select(User.role).where(User.organization_id == organization_id,
                                                  User.remote_id == user_remote_id).limit(1))
    if role == "admin":
        return "admin"
    if role == "manager" or reports_of(session, organization_id, user_remote_id):
        return "manager"
    return "rep"


def reports_of(session: Session, organization_id: int, manager_remote_id: str) -> frozenset[str]:
    """Everyone below the person, at any depth: by reporting line and by role hierarchy (them excluded)."""
    tree = (select(User.remote_id)
            .where(User.organization_id == organization_id, User.manager_remote_id == manager_remote_id)
            .cte("reports", recursive=True))
    # UNION (not UNION ALL) stops a cycle in a misconfigured hierarchy from recursing forever.
    tree = tree.union(select(User.remote_id)
                      .join(tree, User.manager_remote_id == tree.c.remote_id)
                      .where(User.organization_id == organization_id))
    own_role = (select(User.crm_role_remote_id)
                .where(User.organization_id == organization_id, User.remote_id == manager_remote_id)
                .limit(1).scalar_subquery())
    roles = (select(CrmRole.remote_id)
             .where(CrmRole.organization_id == organization_id, CrmRole.parent_remote_id == own_role,
                    CrmRole.deleted_at.is_(None))
             .cte("roles_below", recursive=True))
    roles = roles.union(select(CrmRole.remote_id)
                        .join(roles, CrmRole.parent_remote_id == roles.c.remote_id)
                        .where(CrmRole.organization_id == organization_id, CrmRole.deleted_at.is_(None)))
    in_roles_below = select(User.remote_id).where(User.organization_id == organization_id,
                                                  User.crm_role_remote_id.in_(select(roles.c.remote_id)))
    found = set(session.scalars(select(tree.c.remote_id))) | set(session.scalars(in_roles_below))
    return frozenset(found) - {manager_remote_id}


def team_of(session: Session, organization_id: int, leader_remote_id: str) -> frozenset[str]:
    """The leader and everyone who reports to them."""
    return reports_of(session, organization_id, leader_remote_id) | {leader_remote_id}


def visible_owners(session: Session, viewer: Viewer) -> frozenset[str] | None:
    """The owners whose numbers the viewer may see; None means the whole organization."""
    if viewer.role == "admin":
        return None
    if viewer.role == "manager":
        return team_of(session, viewer.organization_id, viewer.user_remote_id)
    return frozenset({viewer.user_remote_id})


def team_leader_instead(session: Session, organization_id: int, user_remote_id: str) -> tuple[str, str] | None:
    """(team, leader) when someone else on the person's team leads it (a team with several managers), else None."""
    me = session.scalars(select(User).where(User.organization_id == organization_id,
                                            User.remote_id == user_remote_id).limit(1)).first()
    if me is None or not me.team:
        return None
    leaders = select(User.manager_remote_id).where(User.organization_id == organization_id,
                                                   User.connection_id == me.connection_id, User.team == me.team)
    leader = session.scalars(select(User).where(User.organization_id == organization_id,
                                                User.connection_id == me.connection_id,
                                                User.remote_id.in_(leaders), User.remote_id != user_remote_id)
                             .order_by(User.remote_id).limit(1)).first()
    return (me.team, leader.name or leader.remote_id) if leader else None


def may_view(session: Session, viewer: Viewer, owner_remote_id: str) -> bool:
    """Whether the viewer may see this person's numbers."""
    visible = visible_owners(session, viewer)
    return visible is None or owner_remote_id in visible


@dataclass(frozen=True)
class Subject:
    """Whose numbers a view shows: the organization, a leader's team, or one rep."""

    kind: str  # org | team | rep
    remote_id: str | None
    owners: frozenset[str] | None
    # The people a rep is compared with (their manager's team); the subject's own owners otherwise.
    peers: frozenset[str] | None


def subject_for(session: Session, viewer: Viewer, remote_id: str | None = None) -> Subject:
    """The subject the viewer asked for (default: their own), or OutOfScope."""
    org = viewer.organization_id
    if remote_id is None:
        if viewer.role == "admin":
            return Subject("org", None, None, None)
        remote_id = viewer.user_remote_id
    if not may_view(session, viewer, remote_id):
        raise OutOfScope(remote_id)
    reports = reports_of(session, org, remote_id)
    if reports:
        team = reports | {remote_id}
        return Subject("team", remote_id, team, team)
    manager = session.scalar(select(User.manager_remote_id).where(User.organization_id == org,
                                                                  User.remote_id == remote_id).limit(1))
    peers = team_of(session, org, manager) if manager else frozenset({remote_id})
    return Subject("rep", remote_id, frozenset({remote_id}), peers)


def owner_filter(column, owners: frozenset[str] | None):
    """A WHERE clause limiting a column of owner ids to the scope (None: no limit)."""
    if owners is None:
        return true()
    return column.in_(sorted(owners))


def owner_names(session: Session, organization_id: int, owners: frozenset[str] | None = None) -> dict[str, str]:
    """Display names of the organization's users (within the scope when given)."""
    rows = session.execute(select(User.remote_id, User.name)
                           .where(User.organization_id == organization_id,
                                  owner_filter(User.remote_id, owners)))
    return {remote_id: name or remote_id for remote_id, name in rows}
