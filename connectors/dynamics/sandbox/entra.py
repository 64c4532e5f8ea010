"""Microsoft Entra ID v2 endpoints of the sandbox tenant: discovery, keys, authorize (consent) and token.

Sources: learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow (authorize parameters, the
token request with client_secret in the form body, the token response fields, error responses with
error/error_description/error_codes/trace_id/correlation_id/timestamp), reference-error-codes (AADSTS
numbers), id-token-claims-reference (aud, iss, tid, oid, sub, preferred_username, nonce), v2-protocols-oidc
(/{tenant}/v2.0/.well-known/openid-configuration), and the Dataverse scopes of authenticate-oauth.md
(`<environment URL>/user_impersonation` delegated, `<environment URL>/.default`).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import urlencode

from flask import Blueprint, jsonify, make_response, redirect, render_template, request
from joserfc import jwt

from .api import sandbox
from .tokens import Grant

bp = Blueprint("dynamics_entra", __name__)
SIGNIN_COOKIE = "sandbox-entra-signin"
OIDC_SCOPES = {"openid", "profile", "email", "offline_access"}


class EntraError(Exception):
    """An Entra ID error answer: error, AADSTS number and its sentence, HTTP status."""

    def __init__(self, status: int, error: str, code: int, message: str):
        super().__init__(message)
        self.status, self.error, self.code, self.message = status, error, code, message

    def response(self):
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        moment = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        answer = jsonify({"error": self.error,
                          "error_description": f"AADSTS{self.code}: {self.message} Trace ID: {trace} "
                                               f"Correlation ID: {correlation} Timestamp: {moment}",
                          "error_codes": [self.code], "timestamp": moment, "trace_id": trace,
                          "correlation_id": correlation, "error_uri": f"{_issuer_host()}/error?code={self.code}"})
        answer.status_code = self.status
        return answer


def _issuer_host() -> str:
    return request.host_url.rstrip("/")


def _tenant(name: str) -> str:
    box = sandbox()
    if name in (box.settings.tenant_id, box.settings.tenant_domain, "common", "organizations"):
        return box.settings.tenant_id
    raise EntraError(400, "invalid_request", 90002, f"Tenant '{name}' not found. Check to make sure you have the "
                                                    "correct tenant ID and are signing into the correct cloud.")


def _resource_scopes(scope: str) -> list[str]:
    """The Dataverse scopes asked for; EntraError when a scope names another resource or permission."""
    org = _issuer_host()
    wanted = [s for s in scope.split() if s not in OIDC_SCOPES]
    if not wanted:
        raise EntraError(400, "invalid_scope", 70011, "The provided request must include a 'scope' input parameter "
                                                      f"naming the resource, such as {org}/user_impersonation.")
    for item in wanted:
        if item not in (f"{org}/user_impersonation", f"{org}/.default"):
            raise EntraError(400, "invalid_scope", 70011, f"The provided value for the input parameter 'scope' is "
                                                          f"not valid. The scope {item} is not valid.")
    return wanted


def _check_client(client_id: str | None, redirect_uri: str | None = None) -> None:
    box = sandbox()
    if client_id != box.settings.client_id:
        raise EntraError(400, "unauthorized_client", 700016,
                         f"Application with identifier '{client_id}' was not found in the directory "
                         f"'{box.settings.tenant_domain}'.")
    registered = box.settings.redirect_uris
    if redirect_uri is not None and ((registered and redirect_uri not in registered) or not redirect_uri or
                                     not redirect_uri.startswith(("https://", "http://localhost",
                                                                  "http://127.0.0.1"))):
        raise EntraError(400, "invalid_request", 50011,
                         f"The redirect URI '{redirect_uri}' specified in the request does not match the redirect "
                         f"URIs configured for the application '{client_id}'.")


def _check_authorize(tenant: str, params) -> None:
    """The tenant, app, redirect URI and scopes of an authorize request; EntraError when one is wrong."""
    _tenant(tenant)
    _check_client(params.get("client_id"), params.get("redirect_uri"))
    _resource_scopes(params.get("scope", ""))


def _unframed(page, status: int = 200):
    """A sign-in page the browser may not show inside a frame.

    Entra ID refuses to render any prompt needing the user (credentials, consent, errors) in an iframe, with
    X-Frame-Options deny, against clickjacking (learn.microsoft.com/entra/msal/javascript/browser/iframe-usage);
    only prompt=none answers, which are redirects, work in a frame.
    """
    response = make_response(page, status)
    response.headers["X-Frame-Options"] = "DENY"
    return response


@bp.errorhandler(EntraError)
def _entra_error(error: EntraError):
    if request.path.endswith("/authorize"):
        return _unframed(render_template("entra_error.html", code=error.code, message=error.message), error.status)
    return error.response()


@bp.get("/<tenant>/v2.0/.well-known/openid-configuration")
def discovery(tenant: str):
    tid, host = _tenant(tenant), _issuer_host()
    return jsonify({"issuer": f"{host}/{tid}/v2.0", "authorization_endpoint": f"{host}/{tenant}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{host}/{tenant}/oauth2/v2.0/token", "jwks_uri": f"{host}/{tenant}/discovery/v2.0/keys",
                    "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                    "response_modes_supported": ["query", "fragment", "form_post"],
                    "subject_types_supported": ["pairwise"], "id_token_signing_alg_values_supported": ["RS256"],
                    "scopes_supported": ["openid", "profile", "email", "offline_access"],
                    "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
                    "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "name", "oid", "tid",
                                         "preferred_username", "nonce", "ver"],
                    "tenant_region_scope": "NA", "cloud_instance_name": "microsoftonline.com"})


@bp.get("/<tenant>/discovery/v2.0/keys")
def keys(tenant: str):
    _tenant(tenant)
    return jsonify({"keys": [sandbox().signing_key.as_dict(private=False)]})


@bp.get("/<tenant>/oauth2/v2.0/authorize")
def authorize(tenant: str):
    """The sign-in and consent page, or (prompt=none) a silent answer for a user already signed in."""
    box = sandbox()
    args = request.args
    _check_authorize(tenant, args)
    if args.get("response_type") != "code":
        raise EntraError(400, "unsupported_response_type", 70005,
                         "The provided value for the input parameter 'response_type' is not allowed for this request. "
                         "Use response_type=code.")
    signed_in = request.cookies.get(SIGNIN_COOKIE)
    if args.get("prompt") == "none":
        user = box.user(signed_in) if signed_in else None
        if user is None or (user["systemuserid"], args["client_id"]) not in box.consents:
            return _answer(args, {"error": "login_required", "state": args.get("state"),
                                  "error_description": "AADSTS50058: A silent sign-in request was sent but no user "
                                                       "is signed in."})
        return _grant_redirect(user, args)
    return _unframed(render_template("consent.html", params=args, users=box.users(),
                                     org=box.settings.org_friendly_name, tenant=box.settings.tenant_domain,
                                     signed_in=signed_in, offline="offline_access" in args.get("scope", "").split()))


@bp.post("/<tenant>/oauth2/v2.0/authorize")
def decide(tenant: str):
    """The consent form's answer: Accept issues a code, Cancel redirects with access_denied."""
    box = sandbox()
    form = request.form
    _check_authorize(tenant, form)
    if form.get("action") != "allow":
        return _answer(form, {"error": "access_denied", "state": form.get("state"),
                              "error_description": "AADSTS65004: User declined to consent to access the app."})
    user = box.user(form.get("user", ""))
    if user is None:
        return _unframed(render_template("entra_error.html", code=50034,
                                         message="The user account does not exist in the directory."), 400)
    box.consents.add((user["systemuserid"], form["client_id"]))
    response = make_response(_grant_redirect(user, form))
    response.set_cookie(SIGNIN_COOKIE, user["systemuserid"], secure=True, httponly=True, samesite="None")
    return response


def _with_query(url: str, params: dict) -> str:
    return url + ("&" if "?" in url else "?") + urlencode({k: v for k, v in params.items() if v is not None})


def _grant_redirect(user: dict, params):
    box = sandbox()
    grant = Grant(user["systemuserid"], params["client_id"], params.get("scope", ""), params["redirect_uri"],
                  params.get("nonce"), params.get("code_challenge"), params.get("code_challenge_method"))
    return _answer(params, {"code": box.tokens.issue_code(grant), "state": params.get("state"),
                            "session_state": str(uuid.uuid4())})


def _answer(params, fields: dict):
    """Send the browser back to the app: a redirect with a query, or (response_mode=form_post) a posted form."""
    if params.get("response_mode") == "form_post":
        return render_template("form_post.html", action=params["redirect_uri"],
                               fields={k: v for k, v in fields.items() if v is not None})
    return redirect(_with_query(params["redirect_uri"], fields))


def _id_token(user: dict, client_id: str, nonce: str | None) -> str:
    box = sandbox()
    now = int(time.time())
    tid = box.settings.tenant_id
    claims = {"aud": client_id, "iss": f"{_issuer_host()}/{tid}/v2.0", "iat": now, "nbf": now, "exp": now + 3600,
              "name": user["fullname"], "oid": user["azureactivedirectoryobjectid"],
              "preferred_username": user["domainname"], "tid": tid, "ver": "2.0",
              "sub": base64.urlsafe_b64encode(hashlib.sha256(f"{user['systemuserid']}{client_id}".encode())
                                              .digest()).decode().rstrip("=")}
    if nonce:
        claims["nonce"] = nonce
    key = box.signing_key
    return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)


def _verifier_ok(grant: Grant, verifier: str | None) -> bool:
    if not grant.code_challenge:
        return True
    if not verifier:
        return False
    if (grant.code_challenge_method or "plain").upper() == "S256":
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        return hmac.compare_digest(digest, grant.code_challenge)
    return hmac.compare_digest(verifier, grant.code_challenge)


@bp.post("/<tenant>/oauth2/v2.0/token")
def token(tenant: str):
    """Redeem an authorization code or a refresh token; the client authenticates with form fields."""
    box = sandbox()
    _tenant(tenant)
    form = request.form
    if request.authorization and not form.get("client_secret"):
        raise EntraError(401, "invalid_client", 7000218, "The request body must contain the following parameter: "
                                                         "'client_assertion' or 'client_secret'.")
    _check_client(form.get("client_id"))
    if not form.get("client_secret"):
        raise EntraError(401, "invalid_client", 7000218, "The request body must contain the following parameter: "
                                                         "'client_assertion' or 'client_secret'.")
    if not hmac.compare_digest(form["client_secret"], box.settings.client_secret):
        raise EntraError(401, "invalid_client", 7000215,
                         "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                         f"secret value, not the client secret ID, for a secret added to app '{form['client_id']}'.")
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        grant = box.tokens.redeem_code(form.get("code", ""))
        if grant is None:
            raise EntraError(400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please "
                                                          "retry with a new valid code or use an existing refresh token.")
        if grant.redirect_uri != form.get("redirect_uri"):
            raise EntraError(400, "invalid_grant", 500117, "The reply uri specified in the request isn't matching the "
                                                           "reply uri used in the authorization request.")
        if not _verifier_ok(grant, form.get("code_verifier")):
            raise EntraError(400, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge "
                                                           "supplied in the authorization request.")
        user_id, scope, nonce = grant.user_id, grant.scope, grant.nonce
    elif grant_type == "refresh_token":
        found = box.tokens.find(form.get("refresh_token", ""), "refresh")
        if found is None or found["client_id"] != form["client_id"]:
            raise EntraError(400, "invalid_grant", 50173, "The provided grant has expired due to it being revoked, a "
                                                          "fresh auth token is needed. The user might have changed or "
                                                          "reset their password.")
        # A new refresh token comes back each time; the old one is not revoked (refresh-tokens.md: "The Microsoft
        # identity platform doesn't revoke old refresh tokens when used to fetch new access tokens").
        user_id, scope, nonce = found["user_id"], form.get("scope") or found["scope"], None
    else:
        raise EntraError(400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type "
                                                               f"'{grant_type}'.")
    resource = _resource_scopes(scope)
    user = box.user(user_id)
    ttl = box.settings.token_ttl_seconds
    requested = set(scope.split())
    access, refresh = box.tokens.issue(user_id, form["client_id"], " ".join(resource), ttl,
                                       "offline_access" in requested)
    body = {"token_type": "Bearer", "scope": " ".join(resource), "expires_in": ttl, "ext_expires_in": ttl,
            "access_token": access}
    if refresh:
        body["refresh_token"] = refresh
    if "openid" in requested:
        body["id_token"] = _id_token(user, form["client_id"], nonce)
    return jsonify(body)
