"""OAuth 2.0 web-server flow and identity URLs, shaped like login.salesforce.com.

Programmatic install (what a script does instead of clicking Allow):
    POST /services/oauth2/authorize  (form) client_id, redirect_uri, state, scope, username, action=allow
    → 302 to redirect_uri?code=...&state=...   (action=deny → ?error=access_denied&state=...)
username is a sandbox User's Username or Id; empty means the admin user. Then trade the code:
    POST /services/oauth2/token  grant_type=authorization_code, code, redirect_uri, client_id, client_secret
Client credentials may also come as HTTP Basic auth (authlib's default). The org has two apps: the
main one (install, sign-in, the rep panel's Canvas app) and the team panel's Canvas app; a user who
allows an app has approved it (what a self-authorized Canvas app waits for).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, jsonify, redirect, render_template, request

from .api import bearer_token, instance_url, sandbox
from .tokens import Grant

bp = Blueprint("salesforce_oauth", __name__)
DEFAULT_SCOPE = "api refresh_token"


def _oauth_error(error: str, description: str, status: int = 400):
    return jsonify({"error": error, "error_description": description}), status


def _with_query(url: str, params: dict) -> str:
    return url + ("&" if "?" in url else "?") + urlencode({k: v for k, v in params.items() if v is not None})


def _apps() -> dict[str, tuple[str, str]]:
    """client_id → (app name, consumer secret) of the org's apps."""
    settings = sandbox().settings
    return {settings.client_id: (settings.app_name, settings.client_secret),
            settings.team_client_id: (f"{settings.app_name} Team", settings.team_client_secret)}


def _find_user(username: str) -> dict | None:
    box = sandbox()
    if not username:
        return box.store.get("User", box.admin_id)
    rows = box.store.select("User", '("Username" = ? OR "Id" = ?) AND "IsDeleted" = 0 AND "IsActive" = 1',
                            [username, username])
    return rows[0] if rows else None


@bp.get("/services/oauth2/authorize")
def consent():
    """The consent page: who signs in, and Allow or Deny."""
    box = sandbox()
    args = request.args
    if args.get("client_id") not in _apps():
        return render_template("error.html", message="The client_id is not a connected app of this org. "
                               f"Use {box.settings.client_id}."), 400
    if not args.get("redirect_uri"):
        return render_template("error.html", message="The redirect_uri parameter is missing."), 400
    if args.get("response_type", "code") != "code":
        return redirect(_with_query(args["redirect_uri"], {"error": "unsupported_response_type",
                                                           "state": args.get("state")}))
    users = box.store.select("User", '"IsDeleted" = 0 AND "IsActive" = 1', order='"Name"')
    users.sort(key=lambda user: user["Id"] != box.admin_id)
    return render_template("consent.html", app_name=_apps()[args["client_id"]][0], org_name=box.settings.org_name,
                           users=users, params=args, roles={u["Id"]: box.user_role(u) for u in users})


@bp.post("/services/oauth2/authorize")
def decide():
    """The consent form's answer: a redirect with a code, or with error=access_denied."""
    box = sandbox()
    form = request.form
    redirect_uri = form.get("redirect_uri", "")
    if form.get("client_id") not in _apps() or not redirect_uri:
        return render_template("error.html", message="Unknown client_id or missing redirect_uri."), 400
    if form.get("action", "allow") != "allow":
        return redirect(_with_query(redirect_uri, {"error": "access_denied",
                                                   "error_description": "end-user denied authorization",
                                                   "state": form.get("state")}))
    user = _find_user(form.get("username", ""))
    if user is None:
        return render_template("error.html", message="No active sandbox user has that username."), 400
    box.store.execute("INSERT OR IGNORE INTO _approvals VALUES (?, ?)", (user["Id"], form["client_id"]))
    code = box.tokens.issue_code(Grant(user["Id"], form["client_id"], form.get("scope") or DEFAULT_SCOPE,
                                       redirect_uri, form.get("code_challenge") or None,
                                       form.get("code_challenge_method") or None))
    return redirect(_with_query(redirect_uri, {"code": code, "state": form.get("state")}))


def _client_credentials() -> tuple[str, str]:
    if request.authorization and request.authorization.type == "basic":
        return request.authorization.username or "", request.authorization.password or ""
    return request.form.get("client_id", ""), request.form.get("client_secret", "")


def _token_answer(user_id: str, scope: str, access: str, issued: float, refresh: str | None, secret: str):
    box = sandbox()
    identity = f"{instance_url()}/id/{box.org_id}/{user_id}"
    issued_at = str(int(issued * 1000))
    digest = hmac.new(secret.encode(), (identity + issued_at).encode(), hashlib.sha256)
    answer = {"access_token": access}
    if refresh:
        answer["refresh_token"] = refresh
    answer.update({"signature": base64.b64encode(digest.digest()).decode(), "scope": scope,
                   "instance_url": instance_url(), "id": identity, "token_type": "Bearer", "issued_at": issued_at})
    return jsonify(answer)


@bp.post("/services/oauth2/token")
def token():
    """Trade a code or a refresh token for an access token."""
    box = sandbox()
    client_id, client_secret = _client_credentials()
    if client_id not in _apps():
        return _oauth_error("invalid_client_id", "client identifier invalid")
    secret = _apps()[client_id][1]
    if not secrets.compare_digest(client_secret, secret):
        return _oauth_error("invalid_client", "invalid client credentials")
    ttl = box.faults.knobs.token_ttl_seconds
    grant_type = request.form.get("grant_type")
    if grant_type == "authorization_code":
        grant = box.tokens.redeem_code(request.form.get("code", ""))
        if grant is None or grant.client_id != client_id:
            return _oauth_error("invalid_grant", "invalid authorization code")
        if request.form.get("redirect_uri") != grant.redirect_uri:
            return _oauth_error("invalid_grant", "redirect_uri must match configuration")
        if not box.tokens.pkce_ok(grant, request.form.get("code_verifier")):
            return _oauth_error("invalid_grant", "invalid code verifier")
        refresh = box.tokens.issue_refresh(grant.user_id, client_id, grant.scope)
        access, issued = box.tokens.issue_access(grant.user_id, client_id, grant.scope, ttl, parent=refresh)
        return _token_answer(grant.user_id, grant.scope, access, issued, refresh, secret)
    if grant_type == "refresh_token":
        old = request.form.get("refresh_token", "")
        grant = box.tokens.lookup(old, "refresh")
        if grant is None or grant.client_id != client_id:
            return _oauth_error("invalid_grant", "expired access/refresh token")
        refresh = None
        if box.faults.knobs.refresh_token_rotation:
            # The old token dies with rotation; a concurrent refresh with it now fails, as in Salesforce.
            box.store.execute("UPDATE _tokens SET revoked = 1 WHERE token = ?", (old,))
            refresh = box.tokens.issue_refresh(grant.user_id, client_id, grant.scope)
        access, issued = box.tokens.issue_access(grant.user_id, client_id, grant.scope, ttl, parent=refresh or old)
        return _token_answer(grant.user_id, grant.scope, access, issued, refresh, secret)
    return _oauth_error("unsupported_grant_type", "grant type not supported")


@bp.post("/services/oauth2/introspect")
def introspect():
    """Token introspection (RFC 7662) as Salesforce answers it: an app may look at the tokens issued to it."""
    box = sandbox()
    client_id, client_secret = _client_credentials()
    if client_id not in _apps() or not secrets.compare_digest(client_secret, _apps()[client_id][1]):
        return _oauth_error("invalid_client", "invalid client credentials", 401)
    value = request.form.get("token", "")
    kind = "refresh" if request.form.get("token_type_hint") == "refresh_token" else "access"
    grant = box.tokens.lookup(value, kind) if value else None
    if grant is None or grant.client_id != client_id:
        return jsonify({"active": False})
    user = box.store.get("User", grant.user_id)
    issued, expires = box.tokens.times(value)
    return jsonify({"active": True, "scope": grant.scope, "client_id": client_id, "username": user["Username"],
                    "sub": f"{instance_url()}/id/{box.org_id}/{grant.user_id}",
                    "token_type": f"{kind}_token", "exp": int(expires) if expires else None, "iat": int(issued),
                    "nbf": int(issued)})


@bp.route("/services/oauth2/revoke", methods=["GET", "POST"])
def revoke():
    """Revoke an access or refresh token (a refresh token takes its access tokens along)."""
    value = request.values.get("token", "")
    if not value or not sandbox().tokens.revoke(value):
        return _oauth_error("unsupported_token_type", "this token type is not supported")
    return "", 200


def _utc_offset_ms(zone: str) -> int:
    """The zone's standard offset from UTC in milliseconds, as the identity answer's utcOffset gives it."""
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return 0
    # The documented example pairs America/Los_Angeles with -28800000: the offset outside daylight
    # time, which is the smaller of January's and July's in either hemisphere.
    offsets = (datetime(2017, month, 15, tzinfo=tz).utcoffset() for month in (1, 7))
    return int(min(offsets).total_seconds() * 1000)


def _identity(user: dict) -> dict:
    box = sandbox()
    zone = user.get("TimeZoneSidKey") or box.settings.org_time_zone
    base = instance_url()
    version = box.settings.api_version
    return {
        "id": f"{base}/id/{box.org_id}/{user['Id']}", "asserted_user": True, "user_id": user["Id"],
        "organization_id": box.org_id, "username": user["Username"], "nick_name": user["Username"].split("@")[0],
        "display_name": user["Name"], "email": user["Email"], "email_verified": True,
        "first_name": user["FirstName"], "last_name": user["LastName"], "timezone": zone,
        "active": bool(user["IsActive"]), "user_type": "STANDARD", "language": "en_US",
        "locale": user.get("LocaleSidKey") or "en_US", "utcOffset": _utc_offset_ms(zone),
        "last_modified_date": user["LastModifiedDate"],
        "urls": {"rest": f"{base}/services/data/v{version}/", "sobjects": f"{base}/services/data/v{version}/sobjects/",
                 "query": f"{base}/services/data/v{version}/query/", "profile": f"{base}/{user['Id']}"},
        # No custom_attributes: Salesforce adds them only when the app defines custom attributes, and
        # the app Pipewise ships defines none (it reads the role through the API instead).
    }


def _session_grant():
    box = sandbox()
    value = bearer_token() or request.values.get("oauth_token") or request.values.get("access_token")
    return box.tokens.lookup(value, "access") if value else None


@bp.route("/id/<org_id>/<user_id>", methods=["GET", "POST"])
def identity(org_id: str, user_id: str):
    """Who a user is, for sign-in: ids, organization, names and e-mail (Identity URLs, REST API guide)."""
    box = sandbox()
    if _session_grant() is None:
        return jsonify([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]), 401
    user = box.store.get("User", user_id) if org_id == box.org_id else None
    if user is None:
        return jsonify([{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]), 404
    return jsonify(_identity(user))


@bp.route("/services/oauth2/userinfo", methods=["GET", "POST"])
def userinfo():
    """The signed-in user, OpenID Connect style, plus the identity fields."""
    grant = _session_grant()
    if grant is None:
        return jsonify([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]), 401
    user = sandbox().store.get("User", grant.user_id)
    info = _identity(user)
    info.update({"sub": info["id"], "name": user["Name"], "preferred_username": user["Username"]})
    return jsonify(info)
