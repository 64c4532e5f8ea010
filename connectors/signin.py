"""The console sign-in contract: the roles a console user can have and who a CRM says signed in.

Each package's ``signin.sign_in(oauth, token, config, kept_refresh_tokens)`` returns a ``SignIn``
(reached through ``Provider.sign_in``). The roles are declared here, at the bottom layer, because a
connector is the first to name one (from the user's standing in the CRM); web and scoring import them.
"""
from __future__ import annotations

from dataclasses import dataclass

ROLES = ("admin", "manager", "rep")  # what a console user is, from their standing in the CRM


@dataclass(frozen=True)
class SignIn:
    """Who signed in to the console, as their CRM tells it."""

    provider: str
    user_id: str
    remote_org_id: str
    username: str
    email: str | None
    name: str
    role: str  # admin | manager | rep


class SignInError(Exception):
    """Sign-in could not complete; the message is shown to the person signing in."""
