"""The Dynamics 365 panel's sign-in: the form's web resource parameters, Entra ID OpenID Connect, and who views.

The form frames Pipewise with unsigned parameters, so none is trusted: the viewer signs in with Entra ID and
Dataverse itself, with the viewer's delegated token, says which organization they belong to and whether the
record is one of its records.

Sources:
- model-driven-apps/use-iframe-and-web-resource-controls-on-a-form.md: "Pass record object-type code and unique
  identifier as parameters" adds typename (the table's logical name), type (its code, which differs between
  organizations: not used), id ({GUID} in braces), orgname, userlcid and orglcid; a new, unsaved record has no
  id. pass-parameters-url-by-using-ribbon.md: orgname is the organization's unique name.
- entra/identity-platform/v2-oauth2-auth-code-flow and v2-protocols-oidc: the authorize request (response_type
  code, nonce, state, code_challenge with S256, prompt=none for a silent sign-in, which answers login_required,
  interaction_required or consent_required when the user must act), the token request with code_verifier.
- entra/identity-platform/id-tokens and access-tokens ("Validate tokens"): RS256 signature by a key of the
  tenant's JWKS (<authority>/discovery/v2.0/keys), iss https://login.microsoftonline.com/{tid}/v2.0, aud the
  app's client id, exp and nbf, the nonce sent; oid identifies the user across apps of the tenant.
- entra/msal/javascript/browser/iframe-usage: Entra ID refuses to render a prompt in a frame (X-Frame-Options
  deny), so the interactive sign-in opens in a popup and only the silent one runs in the frame.
- webapi/reference/whoami.md; reference/entities/organization.md (organizations, name: the unique name);
  systemuser.md (azureactivedirectoryobjectid: the user's Entra object id).
"""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from authlib.integrations.base_client.errors import OAuthError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from connectors.dynamics.client import DynamicsClient
from connectors.dynamics.provider import DynamicsProvider, environment_scope
from connectors.errors import ConnectorError, Skippable
from connectors.oauth import OAuthApp
from connectors.panels import FramedRecord, PanelRefused, PanelViewer

# typename → (entity set, primary key) of the tables whose forms carry the panel.
TABLES = {"lead": ("leads", "leadid"), "opportunity": ("opportunities", "opportunityid"),
          "systemuser": ("systemusers", "systemuserid")}
SCOPES = ("openid", "profile", "user_impersonation")
IDENTITY_PROVIDER = "Microsoft"  # the sign-in button's "Sign in with …"
# What the form passes with "Pass record object-type code and unique identifier as parameters".
PARAMETERS = ("typename", "type", "id", "orgname", "userlcid", "orglcid")
# The answers of a prompt=none request that a sign-in with the user at the keyboard can resolve (OpenID Connect
# Core 1.0 §3.1.2.6, as Entra ID uses them).
INTERACTION_ERRORS = frozenset({"login_required", "interaction_required", "consent_required"})
GUID = re.compile(r"^\{?([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})\}?$")
ORG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
TENANT_ALIASES = frozenset({"common", "organizations"})
LEEWAY_SECONDS = 300      # clock skew tolerated on exp/nbf/iat
KEYS_TTL_SECONDS = 24 * 3600
KEYS_REFETCH_SECONDS = 300  # an unknown kid (a rolled key) fetches the set again at most this often
FORM_HELP = ("Ask your Dynamics 365 admin to edit the form: in the Pipewise web resource's properties, check "
             "\"Pass record object-type code and unique identifier as parameters\", then save and publish the form.")


def refuse(reason: str, title: str, message: str, status: int = 403) -> PanelRefused:
    return PanelRefused(reason, title, message, status)


def read_context(args: Mapping[str, str]) -> FramedRecord:
    """The record the form names (typename, id, orgname), checked for shape only; PanelRefused when unusable."""
    typename = (args.get("typename") or "").strip().lower()
    org_name = (args.get("orgname") or "").strip()
    if not typename or not org_name:
        raise refuse("missing-parameters", "Pipewise did not receive the record's details", FORM_HELP, 400)
    if typename not in TABLES:
        raise refuse("unsupported-table", "Open a lead, an opportunity or a user",
                     "Pipewise shows the score on lead and opportunity forms, and the team panel on a user's form.",
                     200)
    raw_id = (args.get("id") or "").strip()
    if not raw_id:
        raise refuse("unsaved-record", "Save the record to see its Pipewise score",
                     "A new record has no score yet: save it, and Pipewise shows its score after the next sync.",
                     200)
    match = GUID.match(raw_id)
    if not match or not ORG_NAME.match(org_name):
        raise refuse("malformed-parameters", "This form passed Pipewise a record it cannot read",
                     "Reload the form. If this keeps happening: " + FORM_HELP, 400)
    return FramedRecord(DynamicsProvider.panel_objects[typename], match.group(1).lower(), org_name)


def frame_origin(config: Any) -> str | None:
    """The environment's origin: the only page that may frame the panel (scheme://host[:port])."""
    parts = urlsplit(str(config.DYNAMICS_API_URL))
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def authority(config: Any) -> str:
    return str(config.DYNAMICS_LOGIN_URL).rstrip("/")


def authorize_url(config: Any, redirect_uri: str, state: str, nonce: str, code_challenge: str,
                  silent: bool) -> str:
    """Entra ID's authorize URL for the panel: silent (prompt=none) first, interactive only when that fails."""
    params = {"client_id": config.DYNAMICS_CLIENT_ID, "response_type": "code", "redirect_uri": redirect_uri,
              "response_mode": "query", "scope": " ".join(environment_scope(config, s) for s in SCOPES),
              "state": state, "nonce": nonce, "code_challenge": code_challenge, "code_challenge_method": "S256"}
    if silent:
        params["prompt"] = "none"
    return f"{authority(config)}{DynamicsProvider.authorize_path}?{urlencode(params)}"


def needs_interaction(error: str) -> bool:
    """Whether a silent sign-in's error asks for the user to sign in or consent (then a popup, never the frame)."""
    return error in INTERACTION_ERRORS


class SigningKeys:
    """The tenant's id_token signing keys, read from the configured authority only and cached.

    The URL comes from DYNAMICS_LOGIN_URL, never from a token or a discovery document, and redirects are
    not followed: no key is downloaded from anywhere but the configured identity host.
    """

    def __init__(self, url: str, verify: str | bool = True,
                 fetch: Callable[[str, str | bool], dict[str, Any]] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.url = url
        self._verify = verify
        self._fetch = fetch or _download_jwks
        self._clock = clock
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()
        self.fetches = 0

    def for_kid(self, kid: str | None) -> KeySet:
        """The key set, fetched when stale or when it lacks ``kid`` (at most every few minutes)."""
        with self._lock:
            age = self._clock() - self._fetched_at
            known = self._keys is not None and any(k.kid == kid for k in self._keys.keys)
            if self._keys is None or age > KEYS_TTL_SECONDS or (not known and age > KEYS_REFETCH_SECONDS):
                document = self._fetch(self.url, self._verify)
                self.fetches += 1
                signing = [k for k in document.get("keys", []) if k.get("kty") == "RSA" and k.get("use", "sig") == "sig"]
                self._keys = KeySet.import_key_set({"keys": signing})
                self._fetched_at = self._clock()
            return self._keys


def _download_jwks(url: str, verify: str | bool) -> dict[str, Any]:
    try:
        response = requests.get(url, verify=verify, timeout=15, allow_redirects=False)
        response.raise_for_status()
        return response.json()
    except (requests.RequestException, ValueError) as exc:
        raise refuse("keys-unavailable", "Pipewise could not check your Microsoft sign-in",
                     "Microsoft's signing keys could not be read. Reload the form in a minute; if it persists, "
                     "ask your admin to check DYNAMICS_LOGIN_URL.", 502) from exc


def signing_keys(config: Any) -> SigningKeys:
    """The key cache for the configured tenant (the app keeps one per provider)."""
    return SigningKeys(f"{authority(config)}/discovery/v2.0/keys", config.ca_bundle)


def validate_id_token(id_token: str, keys: SigningKeys, config: Any, nonce: str,
                      now: Callable[[], int] | None = None) -> dict[str, Any]:
    """The id_token's claims once its signature, issuer, audience, nonce and lifetime check; PanelRefused if not."""
    forged = refuse("invalid-id-token", "Pipewise could not verify your Microsoft sign-in",
                    "Reload the form to sign in again. If this keeps happening, ask your admin to check Pipewise's "
                    "app registration (DYNAMICS_CLIENT_ID and DYNAMICS_LOGIN_URL).")
    try:
        header = extract_compact(id_token.encode()).headers()
        token = jwt.decode(id_token, keys.for_kid(header.get("kid")), algorithms=["RS256"])
        claims = token.claims
        configured = urlsplit(authority(config))
        tenant = configured.path.strip("/").split("/")[0]
        tid = str(claims.get("tid") or "")
        # A single-tenant authority names its tenant; "organizations"/"common" take any tenant, whose sign-in
        # still has to land on an installed organization.
        if tenant not in TENANT_ALIASES and tid != tenant:
            raise forged
        origin = f"{configured.scheme}://{configured.netloc}"
        jwt.JWTClaimsRegistry(
            now=now, leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": f"{origin}/{tid}/v2.0"},
            aud={"essential": True, "value": config.DYNAMICS_CLIENT_ID},
            nonce={"essential": True, "value": nonce}, exp={"essential": True}, oid={"essential": True},
            tid={"essential": True}).validate(claims)
    except PanelRefused:
        raise
    except (JoseError, ValueError, TypeError, AttributeError) as exc:
        raise forged from exc
    return dict(claims)


def sign_in(config: Any, keys: SigningKeys, context: FramedRecord, code: str, redirect_uri: str,
            code_verifier: str, nonce: str) -> PanelViewer:
    """Redeem the code, verify the id_token, then ask Dataverse (as the viewer) who they are and whether the record
    is their organization's; PanelRefused with what to do when any of it fails."""
    oauth = OAuthApp(DynamicsProvider, authority(config), config.DYNAMICS_CLIENT_ID, config.DYNAMICS_CLIENT_SECRET,
                     verify=config.ca_bundle,
                     scopes=tuple(environment_scope(config, s) for s in SCOPES))
    try:
        token = dict(oauth.session(redirect_uri).fetch_token(oauth.token_url, grant_type="authorization_code",
                                                             code=code, code_verifier=code_verifier))
    except (OAuthError, requests.RequestException) as exc:
        raise refuse("code-refused", "Microsoft did not complete your sign-in",
                     "Reload the form to sign in again.", 502) from exc
    claims = validate_id_token(str(token.get("id_token") or ""), keys, config, nonce)
    client = DynamicsClient(token, oauth, api_url=str(config.DYNAMICS_API_URL), verify=config.ca_bundle,
                            max_attempts=2, timeout=30)
    try:
        who = client.who_am_i()
        user = client.get_json(f"systemusers({who['UserId']})?$select=azureactivedirectoryobjectid")
        organization = client.get_json(f"organizations({who['OrganizationId']})?$select=name")
    except (ConnectorError, KeyError) as exc:
        raise refuse("not-an-environment-user", "You are not a user of this Dynamics 365 environment",
                     "Sign in with your work account of this organization, or ask your Dynamics 365 admin to add "
                     "you as a user of the environment.") from exc
    if str(user.get("azureactivedirectoryobjectid") or "").lower() != str(claims["oid"]).lower():
        raise refuse("identity-mismatch", "Your sign-in and your Dynamics 365 user do not match",
                     "Sign out of Microsoft in this browser, sign in with your work account, then reload the form.")
    if str(organization.get("name") or "").lower() != context.org_name.lower():
        raise refuse("other-organization", "This form belongs to another organization",
                     f"You signed in to {organization.get('name')}, but the form says it belongs to "
                     f"{context.org_name}. Open the record from your own organization's Dynamics 365.")
    typename = next(t for t, common in DynamicsProvider.panel_objects.items() if common == context.object_type)
    entity_set, key = TABLES[typename]
    try:
        client.get_json(f"{entity_set}({context.remote_id})?$select={key}")
    except Skippable as exc:
        raise refuse("record-not-in-organization", "This record is not in your organization",
                     "Pipewise shows records of the organization you signed in to. Open a lead or an opportunity "
                     "of your own organization in Dynamics 365.") from exc
    except ConnectorError as exc:
        raise refuse("record-not-readable", "You cannot open this record in Dynamics 365",
                     "Ask your Dynamics 365 admin for read access to it, then reload the form.") from exc
    return PanelViewer(remote_org_id=str(who["OrganizationId"]), user_remote_id=str(who["UserId"]),
                       name=str(claims.get("name") or claims.get("preferred_username") or ""))
