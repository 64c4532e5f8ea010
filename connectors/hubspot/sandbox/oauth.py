"""The install (authorization) page at /oauth/authorize, as HubSpot's "Working with OAuth" describes it.

Query parameters: client_id, redirect_uri and scope are required; optional_scope and state optional.
The scopes are checked against the app's scope settings (see ``scopes.granted_for_install``); a refused
install shows HubSpot's error page instead of the consent form. The tokens are in ``token_api``.

Programmatic install (what a script does instead of clicking Connect):
    POST /oauth/authorize  (form) client_id, redirect_uri, state, scope, optional_scope, user (e-mail),
                           action=allow  → 302 to redirect_uri?code=...&state=...
                           (action=deny → ?error=access_denied&state=...)
user is an owner's e-mail (or user id); empty means the portal's admin.
"""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, redirect, render_template, request

from .api import sandbox
from .scopes import InstallError, granted_for_install
from .tokens import Grant

bp = Blueprint("hubspot_oauth", __name__)


def _with_query(url: str, params: dict) -> str:
    return url + ("&" if "?" in url else "?") + urlencode({k: v for k, v in params.items() if v is not None})


def _refusal(message: str):
    box = sandbox()
    return render_template("error.html", portal_name=box.settings.portal_name, message=message), 400


def _granted(params) -> list[str]:
    """The scopes this install would grant; InstallError when HubSpot refuses it."""
    settings = sandbox().settings
    if params.get("client_id") != settings.client_id:
        raise InstallError(f"The client_id is not an app of this portal. Use {settings.client_id}.")
    if not params.get("redirect_uri"):
        raise InstallError("The redirect_uri parameter is missing.")
    return granted_for_install(params.get("scope", ""), params.get("optional_scope", ""),
                               settings.app_required_scopes, settings.app_optional_scopes,
                               settings.unavailable_scopes)


@bp.get("/oauth/authorize")
def consent():
    """The consent page: which user installs, what the app gets, and Connect or Cancel."""
    box = sandbox()
    try:
        granted = _granted(request.args)
    except InstallError as error:
        return _refusal(str(error))
    optional = set(request.args.get("optional_scope", "").split())
    left_out = [s for s in optional if s not in granted]
    return render_template("consent.html", app_name=box.settings.app_name, portal_name=box.settings.portal_name,
                           portal_id=box.portal_id, users=box.owners(), params=request.args, scopes=granted,
                           left_out=sorted(left_out))


@bp.post("/oauth/authorize")
def decide():
    """The consent form's answer: a redirect with a code, or with error=access_denied."""
    box = sandbox()
    form = request.form
    try:
        granted = _granted(form)
    except InstallError as error:
        return _refusal(str(error))
    redirect_uri = form["redirect_uri"]
    if form.get("action", "allow") != "allow":
        return redirect(_with_query(redirect_uri, {"error": "access_denied",
                                                   "error_description": "The user denied access.",
                                                   "state": form.get("state")}))
    user = box.user(form.get("user", ""))
    if user is None:
        return _refusal("No user of this portal has that e-mail.")
    code = box.tokens.issue_code(Grant(user["user_id"], form["client_id"], " ".join(granted), redirect_uri))
    return redirect(_with_query(redirect_uri, {"code": code, "state": form.get("state")}))
