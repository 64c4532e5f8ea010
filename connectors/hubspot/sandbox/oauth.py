"""OAuth 2.0 as HubSpot does it: consent page, /oauth/v1/token, token introspection and refresh-token revocation.

Programmatic install (what a script does instead of clicking Allow):
    POST /oauth/authorize  (form) client_id, redirect_uri, state, scope, user (e-mail), action=allow
    → 302 to redirect_uri?code=...&state=...   (action=deny → ?error=access_denied&state=...)
user is an owner's e-mail (or user id); empty means the portal's admin. Then trade the code:
    POST /oauth/v1/token  grant_type=authorization_code, code, redirect_uri, client_id, client_secret
Client credentials may also come as HTTP Basic auth (authlib's default).
"""
from __future__ import annotations

import secrets
import time
from urllib.parse import urlencode

from flask import Blueprint, jsonify, redirect, render_template, request

from .api import correlation_id, sandbox
from .tokens import Grant

bp = Blueprint("hubspot_oauth", __name__)
DEFAULT_SCOPE = "oauth crm.objects.contacts.read crm.objects.contacts.write"


def _with_query(url: str, params: dict) -> str:
    return url + ("&" if "?" in url else "?") + urlencode({k: v for k, v in params.items() if v is not None})


def _oauth_error(status_name: str, oauth_error: str, message: str, status: int = 400):
    # HubSpot answers {"status": "BAD_REFRESH_TOKEN", "message": ...}; the standard OAuth "error" key is added
    # so that generic clients (authlib) recognize the failure (invalid_grant → re-authorize).
    return jsonify({"status": status_name, "message": message, "correlationId": correlation_id(),
                    "error": oauth_error, "error_description": message}), status


@bp.get("/oauth/authorize")
def consent():
    """The consent page: which user installs, and Allow or Deny."""
    box = sandbox()
    args = request.args
    if args.get("client_id") != box.settings.client_id:
        message = f"The client_id is not an app of this portal. Use {box.settings.client_id}."
        return render_template("error.html", portal_name=box.settings.portal_name, message=message), 400
    if not args.get("redirect_uri"):
        return render_template("error.html", portal_name=box.settings.portal_name,
                               message="The redirect_uri parameter is missing."), 400
    return render_template("consent.html", app_name=box.settings.app_name, portal_name=box.settings.portal_name,
                           portal_id=box.portal_id, users=box.owners(), params=args,
                           scopes=(args.get("scope") or DEFAULT_SCOPE).split())


@bp.post("/oauth/authorize")
def decide():
    """The consent form's answer: a redirect with a code, or with error=access_denied."""
    box = sandbox()
    form = request.form
    redirect_uri = form.get("redirect_uri", "")
    if form.get("client_id") != box.settings.client_id or not redirect_uri:
        return render_template("error.html", portal_name=box.settings.portal_name,
                               message="Unknown client_id or missing redirect_uri."), 400
    if form.get("action", "allow") != "allow":
        return redirect(_with_query(redirect_uri, {"error": "access_denied",
                                                   "error_description": "The user denied access.",
                                                   "state": form.get("state")}))
    user = box.user(form.get("user", ""))
    if user is None:
        return render_template("error.html", portal_name=box.settings.portal_name,
                               message="No user of this portal has that e-mail."), 400
    code = box.tokens.issue_code(Grant(user["user_id"], form["client_id"], form.get("scope") or DEFAULT_SCOPE,
                                       redirect_uri))
    return redirect(_with_query(redirect_uri, {"code": code, "state": form.get("state")}))


def _client_credentials() -> tuple[str, str]:
    if request.authorization and request.authorization.type == "basic":
        return request.authorization.username or "", request.authorization.password or ""
    return request.form.get("client_id", ""), request.form.get("client_secret", "")


def _tokens(grant: Grant, refresh: str):
    box = sandbox()
    ttl = box.faults.knobs.token_ttl_seconds
    access = box.tokens.issue_access(grant.user_id, grant.client_id, grant.scope, ttl, parent=refresh)
    return jsonify({"token_type": "bearer", "refresh_token": refresh, "access_token": access, "expires_in": ttl})


@bp.post("/oauth/v1/token")
def token():
    """Trade a code or a refresh token for a 30-minute access token (the refresh token stays the same)."""
    box = sandbox()
    client_id, client_secret = _client_credentials()
    if client_id != box.settings.client_id:
        return _oauth_error("BAD_CLIENT_ID", "invalid_client", "missing or invalid client_id")
    if not secrets.compare_digest(client_secret, box.settings.client_secret):
        return _oauth_error("BAD_CLIENT_SECRET", "invalid_client", "missing or invalid client_secret")
    grant_type = request.form.get("grant_type")
    if grant_type == "authorization_code":
        grant = box.tokens.redeem_code(request.form.get("code", ""))
        if grant is None or grant.client_id != client_id:
            return _oauth_error("BAD_AUTH_CODE", "invalid_grant", "missing or unknown auth code")
        if request.form.get("redirect_uri") != grant.redirect_uri:
            return _oauth_error("BAD_REDIRECT_URI", "invalid_grant",
                                "redirect_uri does not match the one used to authorize")
        return _tokens(grant, box.tokens.issue_refresh(grant.user_id, client_id, grant.scope))
    if grant_type == "refresh_token":
        refresh = request.form.get("refresh_token", "")
        grant = box.tokens.lookup(refresh, "refresh")
        if grant is None or grant.client_id != client_id:
            return _oauth_error("BAD_REFRESH_TOKEN", "invalid_grant", "missing or invalid refresh token")
        return _tokens(grant, refresh)
    return _oauth_error("BAD_GRANT_TYPE", "unsupported_grant_type",
                        "grant_type must be authorization_code or refresh_token")


def _not_found(message: str, status: int = 404, category: str = "OBJECT_NOT_FOUND"):
    return jsonify({"status": "error", "message": message, "correlationId": correlation_id(),
                    "category": category}), status


def _token_facts(token_value: str, grant: Grant) -> dict:
    box = sandbox()
    user = box.user(grant.user_id)
    return {"token": token_value, "user": user["email"] if user else None, "hub_domain": box.settings.hub_domain,
            "scopes": grant.scope.split(), "hub_id": box.portal_id, "app_id": box.settings.app_id,
            "user_id": grant.user_id}


@bp.get("/oauth/v1/access-tokens/<token_value>")
def access_token_info(token_value: str):
    """What an access token stands for: user, hub_id (the portal id), scopes, seconds left."""
    grant = sandbox().tokens.find(token_value, "access")
    if grant is None or grant.revoked:
        return _not_found("The access token was not found; it may have been revoked.")
    left = int((grant.expires_at or 0) - time.time())
    if left <= 0:
        return _not_found("The OAuth token used to make this call expired. Refresh it and try again.", 401,
                          "EXPIRED_AUTHENTICATION")
    return jsonify({**_token_facts(token_value, grant), "expires_in": left, "token_type": "access"})


@bp.get("/oauth/v1/refresh-tokens/<token_value>")
def refresh_token_info(token_value: str):
    """What a refresh token stands for."""
    grant = sandbox().tokens.lookup(token_value, "refresh")
    if grant is None:
        return _not_found("The refresh token was not found; it may have been revoked.")
    facts = _token_facts(token_value, grant)
    facts.pop("app_id")
    return jsonify({**facts, "client_id": grant.client_id, "token_type": "refresh"})


@bp.delete("/oauth/v1/refresh-tokens/<token_value>")
def revoke_refresh_token(token_value: str):
    """Revoke a refresh token and its access tokens (204)."""
    if sandbox().tokens.lookup(token_value, "refresh") is None or not sandbox().tokens.revoke(token_value):
        return _not_found("The refresh token was not found; it may have been revoked already.")
    return "", 204
