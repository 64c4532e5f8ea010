"""HubSpot's OAuth token endpoints: the token exchange, introspection, revocation, and the deprecated v1 look-ups.

Sources: HubSpot's API description PublicApiSpecs/Auth/Oauth/Rollouts/279897/2026-03/oauth.json (also
served as v3) and .../155908/v1/oauth.json in HubSpot/HubSpot-public-api-spec-collection, the "OAuth v1
migration guide" and "Working with OAuth".

- Every parameter, the client credentials included, is a form field of a form-encoded body. HubSpot
  documents no HTTP Basic client authentication, so the sandbox refuses it (the stricter reading);
  the 2026-03 endpoints also refuse parameters in the query string ("parameters must be provided as
  form-encoded body fields"). The deprecated v1 token endpoint also reads client_secret and
  refresh_token from the query, as its description lists them there.
- The token answer is AccessTokenResponse: access_token, refresh_token, expires_in, token_type and
  token_use (required), hub_id, user_id and scopes.
- Errors carry HubSpot's fields {status, message, correlationId, category}; with the sandbox setting
  oauth_error_fields = "rfc6749" also error and error_description (HubSpot's changelog "New OAuth v3 API
  endpoints and standardized error responses").
"""
from __future__ import annotations

import secrets
import time

from flask import Blueprint, jsonify, request

from .api import correlation_id, sandbox
from .tokens import Grant

bp = Blueprint("hubspot_tokens", __name__)
VERSIONS = ("2026-03", "v3")
CURRENT = "/oauth/<any(%s):version>/token" % ", ".join(f'"{v}"' for v in VERSIONS)
FORM = "application/x-www-form-urlencoded"
HUBSPOT_CATEGORY = "VALIDATION_ERROR"


def oauth_error(status_name: str, rfc_error: str, message: str, status: int = 400):
    """An OAuth failure in HubSpot's shape (and RFC 6749's fields when the sandbox is set to add them)."""
    body = {"status": status_name, "message": message, "correlationId": correlation_id(),
            "category": HUBSPOT_CATEGORY}
    if sandbox().settings.oauth_error_fields == "rfc6749":
        body.update(error=rfc_error, error_description=message)
    return jsonify(body), status


def _fields(legacy: bool) -> tuple[dict[str, str] | None, object | None]:
    """The request's parameters, or the error answer for a request HubSpot would not read."""
    if request.authorization is not None or request.headers.get("Authorization"):
        return None, oauth_error("BAD_CLIENT_ID", "invalid_client", "missing or invalid client_id: send client_id "
                                 "and client_secret as form fields in the request body, not in an "
                                 "Authorization header.")
    if request.mimetype != FORM:
        return None, oauth_error("BAD_REQUEST", "invalid_request", f"The request body must be {FORM}.")
    if request.args and not legacy:
        return None, oauth_error("BAD_REQUEST", "invalid_request", "Parameters must be form fields in the request "
                                 "body, never in the URL: " + ", ".join(sorted(request.args)) + ".")
    fields = dict(request.form.items())
    if legacy:
        for name in ("client_secret", "refresh_token"):
            if name in request.args and name not in fields:
                fields[name] = request.args[name]
    return fields, None


def _authenticated(legacy: bool = False) -> tuple[dict[str, str], object | None]:
    """The request's fields once the app's credentials check out, or the error answer to give instead."""
    fields, refusal = _fields(legacy)
    if refusal is not None:
        return {}, refusal
    settings = sandbox().settings
    if fields.get("client_id") != settings.client_id:
        return {}, oauth_error("BAD_CLIENT_ID", "invalid_client", "missing or invalid client_id")
    if not secrets.compare_digest(fields.get("client_secret", ""), settings.client_secret):
        return {}, oauth_error("BAD_CLIENT_SECRET", "invalid_client", "missing or invalid client_secret")
    return fields, None


def _token_answer(grant: Grant, refresh: str):
    box = sandbox()
    ttl = box.faults.knobs.token_ttl_seconds
    access = box.tokens.issue_access(grant.user_id, grant.client_id, grant.scope, ttl, parent=refresh)
    return jsonify({"token_type": "bearer", "refresh_token": refresh, "access_token": access, "expires_in": ttl,
                    "token_use": "access_token", "hub_id": box.portal_id, "user_id": grant.user_id,
                    "scopes": grant.scope.split()})


def _exchange(legacy: bool):
    fields, refusal = _authenticated(legacy)
    if refusal is not None:
        return refusal
    box = sandbox()
    grant_type = fields.get("grant_type")
    if grant_type == "authorization_code":
        grant = box.tokens.redeem_code(fields.get("code", ""))
        if grant is None or grant.client_id != fields["client_id"]:
            return oauth_error("BAD_AUTH_CODE", "invalid_grant", "missing or unknown auth code")
        if fields.get("redirect_uri") != grant.redirect_uri:
            return oauth_error("BAD_REDIRECT_URI", "invalid_grant",
                               "redirect_uri does not match the one used to authorize")
        return _token_answer(grant, box.tokens.issue_refresh(grant.user_id, grant.client_id, grant.scope))
    if grant_type == "refresh_token":
        refresh = fields.get("refresh_token", "")
        grant = box.tokens.lookup(refresh, "refresh")
        if grant is None or grant.client_id != fields["client_id"]:
            return oauth_error("BAD_REFRESH_TOKEN", "invalid_grant", "missing or invalid refresh token")
        return _token_answer(grant, refresh)
    return oauth_error("BAD_GRANT_TYPE", "unsupported_grant_type",
                       "grant_type must be authorization_code or refresh_token")


@bp.post("/oauth/v1/token")
def token_v1():
    """The deprecated v1 token endpoint (HubSpot ends it on 16 February 2027)."""
    return _exchange(legacy=True)


@bp.post(CURRENT)
def token(version: str):
    """Trade a code or a refresh token for a 30-minute access token (the refresh token stays the same)."""
    return _exchange(legacy=False)


def _signed_access_token(grant: Grant) -> dict:
    """The signed_access_token block the 2026-03 description requires on an access token's metadata."""
    box = sandbox()
    return {"appId": box.settings.app_id, "appInstallId": f"{box.settings.app_id}-{box.portal_id}",
            "audience": "api", "expiresAt": int((grant.expires_at or time.time()) * 1000), "hubId": box.portal_id,
            "hublet": "na1", "installingUserId": grant.user_id, "isPrivateDistribution": False,
            "isServiceAccount": False, "isUserLevel": False, "newSignature": "", "scopeToScopeGroupPks": "",
            "scopes": grant.scope, "signature": "", "trialScopeToScopeGroupPks": "", "trialScopes": "",
            "userId": grant.user_id}


def _metadata(token_value: str, grant: Grant) -> dict:
    box = sandbox()
    user = box.user(grant.user_id)
    return {"token": token_value, "user": user["email"] if user else None, "hub_domain": box.settings.hub_domain,
            "scopes": grant.scope.split(), "hub_id": box.portal_id, "user_id": grant.user_id,
            "app_id": box.settings.app_id}


@bp.post(CURRENT + "/introspect")
def introspect(version: str):
    """What a token stands for (PublicAccessTokenInfoResponse / PublicRefreshTokenInfoResponse)."""
    fields, refusal = _authenticated()
    if refusal is not None:
        return refusal
    box = sandbox()
    value, hint = fields.get("token", ""), fields.get("token_type_hint", "")
    kinds = ["refresh", "access"] if hint == "refresh_token" else ["access", "refresh"]
    for kind in kinds:
        grant = box.tokens.lookup(value, kind)
        if grant is None or grant.client_id != fields["client_id"]:
            continue
        facts = {**_metadata(value, grant), "active": True, "client_id": grant.client_id}
        if kind == "access":
            facts.update(token_type="access", token_use="access_token", is_private_distribution=False,
                         expires_in=max(int((grant.expires_at or 0) - time.time()), 0),
                         signed_access_token=_signed_access_token(grant))
        else:
            facts.update(token_type="refresh", token_use="refresh_token")
        return jsonify(facts)
    # RFC 7662: an unknown, expired or revoked token is only "not active" (HubSpot documents no other answer).
    return jsonify({"active": False})


@bp.post(CURRENT + "/revoke")
def revoke(version: str):
    """Revoke a refresh token and the access tokens made from it."""
    fields, refusal = _authenticated()
    if refusal is not None:
        return refusal
    box = sandbox()
    grant = box.tokens.lookup(fields.get("token", ""), "refresh")
    if grant is None or grant.client_id != fields["client_id"]:
        return oauth_error("BAD_REFRESH_TOKEN", "invalid_grant", "missing or invalid refresh token")
    box.tokens.revoke(fields["token"])
    return "", 200


# -- the deprecated v1 look-ups (GET with the token in the path) ------------------------------------

def _not_found(message: str, status: int = 404, category: str = "OBJECT_NOT_FOUND"):
    return jsonify({"status": "error", "message": message, "correlationId": correlation_id(),
                    "category": category}), status


@bp.get("/oauth/v1/access-tokens/<token_value>")
def access_token_info(token_value: str):
    """What an access token stands for (AccessTokenInfoResponse)."""
    grant = sandbox().tokens.find(token_value, "access")
    if grant is None or grant.revoked:
        return _not_found("The access token was not found; it may have been revoked.")
    left = int((grant.expires_at or 0) - time.time())
    if left <= 0:
        return _not_found("The OAuth token used to make this call expired. Refresh it and try again.", 401,
                          "EXPIRED_AUTHENTICATION")
    return jsonify({**_metadata(token_value, grant), "expires_in": left, "token_type": "access"})


@bp.get("/oauth/v1/refresh-tokens/<token_value>")
def refresh_token_info(token_value: str):
    """What a refresh token stands for (RefreshTokenInfoResponse)."""
    grant = sandbox().tokens.lookup(token_value, "refresh")
    if grant is None:
        return _not_found("The refresh token was not found; it may have been revoked.")
    facts = _metadata(token_value, grant)
    facts.pop("app_id")
    return jsonify({**facts, "client_id": grant.client_id, "token_type": "refresh"})


@bp.delete("/oauth/v1/refresh-tokens/<token_value>")
def revoke_refresh_token(token_value: str):
    """Revoke a refresh token and its access tokens (204)."""
    if sandbox().tokens.lookup(token_value, "refresh") is None or not sandbox().tokens.revoke(token_value):
        return _not_found("The refresh token was not found; it may have been revoked already.")
    return "", 204
