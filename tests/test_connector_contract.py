"""Every registered connector implements the one contract of connectors/base.py, and nothing outside
the connectors names one: a new CRM is a package and a registry line."""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import pathlib
import re
import types
import typing

import pytest

from connectors import common, registry
from connectors.base import (PANEL_APPS, Answer, FieldCatalogue, Inbound, InvalidPanelRequest, PanelChecks,
                             PanelContext, PanelRequest, Provider, Stream, url_origin)
from connectors.client_base import ClientBase
from sync.connections import oauth_app
from sync.runtime.config import Config

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODULES = ("provider", "streams", "client", "mapping", "fields", "signin", "webhooks")
# Hooks the base class cannot answer for a provider: each provider implements them (sign_in and
# field_catalogue come from the package's signin and fields modules).
OWN_HOOKS = ("identity", "record_url")
CLIENT_METHODS = ("read_stream", "read_records", "update_records", "ensure_fields", "preflight", "org_profile")
KINDS = {"str", "number", "int", "date", "datetime", "bool"}
NAMED = re.compile(r"connectors\.(salesforce|hubspot|dynamics)|[\"'](salesforce|hubspot|dynamics)[\"']")
KEYS = registry.keys()
# Panels the CRM signs, verified by the package's panel.verify; a canvas panel also has an approval step.
SIGNED_PANELS = ("canvas", "card")
CANVAS_HOOKS = ("approval_required", "app_credentials", "APPROVAL_FRAMES")
# What only a CRM's package may know of its panel: id forms, Canvas envelope paths, its frame domains.
PANEL_DETAILS = re.compile(r"to_18|\[:15\]|lightning\.force|my\.salesforce|_sfdc_|organizationId|instanceUrl|"
                           r"oauthToken|\"environment\", \"record\"|KEY_PREFIXES|\"005\"|associatedObject|portalId")


def _module(key: str, name: str) -> types.ModuleType:
    return importlib.import_module(f"{registry.PACKAGES[key]}.{name}")


def test_more_than_one_connector_is_registered():
    assert len(KEYS) >= 2 and all(registry.get(key).provider.key == key for key in KEYS)


@pytest.mark.parametrize("key", KEYS)
def test_the_package_has_every_module_under_the_same_name(key):
    folder = ROOT / registry.PACKAGES[key].replace(".", "/")
    missing = [name for name in MODULES if not (folder / f"{name}.py").is_file()]
    assert missing == [], f"{key} lacks {missing}"


@pytest.mark.parametrize("key", KEYS)
def test_the_provider_declares_every_hook(key):
    provider = registry.get(key).provider
    for hook in OWN_HOOKS:
        assert getattr(provider, hook).__func__ is not getattr(Provider, hook).__func__, f"{key} inherits {hook}"
    assert provider.name and provider.authorize_path and provider.token_path and provider.scopes
    assert provider.writeback_batch_size > 0
    assert set(provider.writable_objects) <= set(common.COMMON_TYPES)
    assert {f.key for f in provider.writable_fields} == {"score", "band", "reasons", "next_step",
                                                          "model_version", "scored_at"}
    assert provider.panel in (None, "canvas", "card", "signin")
    assert provider.panel != "card" or set(provider.panel_objects.values()) <= set(provider.writable_objects)
    if provider.panel == "signin":
        # A signed-in panel opens the rep panel on scored records and the team panel on users.
        assert set(provider.panel_objects.values()) <= set(provider.writable_objects) | {"user"}
        hooks = provider.panel_module()
        for name in ("read_context", "frame_origin", "signing_keys", "authorize_url", "needs_interaction", "sign_in"):
            assert callable(getattr(hooks, name)), f"{key}'s panel.py has no {name}"
        assert hooks.PARAMETERS and all(isinstance(name, str) for name in hooks.PARAMETERS)
        assert hooks.IDENTITY_PROVIDER
    # The hooks implemented in modules take the base's parameters.
    assert (list(inspect.signature(_module(key, "signin").sign_in).parameters)
            == list(inspect.signature(Provider.sign_in).parameters))
    assert provider.field_catalogue() is _module(key, "fields").CATALOGUE
    assert callable(_module(key, "mapping").to_common) and callable(_module(key, "client").build_client)


@pytest.mark.parametrize("key", KEYS)
def test_the_provider_settings_are_read_from_the_environment_under_its_own_prefix(key, monkeypatch):
    provider = registry.get(key).provider
    names = [setting.name for setting in provider.settings]
    assert {"LOGIN_URL", "CLIENT_ID", "CLIENT_SECRET"} <= set(names) and len(names) == len(set(names))
    # Defaults are the sandbox's, so a fresh checkout connects; the environment wins over them.
    assert all(setting.default for setting in provider.settings if setting.name != "API_URL")
    monkeypatch.setenv(f"{key.upper()}_CLIENT_ID", "the-admins-app")
    config = Config()
    assert getattr(config, f"{key.upper()}_CLIENT_ID") == "the-admins-app"
    assert getattr(config, f"{key.upper()}_LOGIN_URL").startswith("https://")
    # The scopes asked for in this configuration: every declared one is asked for in some form.
    asked = provider.requested_scopes(config)
    assert len(asked) == len(provider.scopes) and provider.signin_scopes(config).split()
    app = oauth_app(config, key)
    assert app.client_id == "the-admins-app" and app.scopes == asked


@pytest.mark.parametrize("key", KEYS)
def test_a_record_url_points_into_the_crm_for_each_writable_object(key):
    provider = registry.get(key).provider
    for object_type in provider.writable_objects:
        url = provider.record_url("https://crm.example", "org1", object_type, "rec1")
        assert url.startswith("https://crm.example/") and "rec1" in url


@pytest.mark.parametrize("key", KEYS)
def test_the_client_follows_the_client_protocol(key):
    module = _module(key, "client")
    built = typing.get_type_hints(module.build_client)["return"]
    assert [m for m in CLIENT_METHODS if not callable(getattr(built, m, None))] == []
    # Streams read through the remote's change log need the client's change reads.
    if any(s.delta for s in registry.get(key).provider.streams):
        assert callable(getattr(built, "read_changes", None)), f"{key} has delta streams but no read_changes"
    # A provider that says Pipewise registers its webhook has the client hook that does it, and only then.
    offers = callable(getattr(built, "register_webhooks", None))
    assert offers == registry.get(key).provider.registers_webhooks, f"{key}: registers_webhooks and the client differ"
    # The shared plumbing (retries, refresh under a lock, usage, batch guard) comes from one base.
    assert issubclass(built, ClientBase) and built.batch_limit == registry.get(key).provider.writeback_batch_size
    for hook in ("_once", "_refused_after_refresh", "_after_refresh"):
        assert getattr(built, hook) is not getattr(ClientBase, hook), f"{key}'s client inherits {hook}"


@pytest.mark.parametrize("key", KEYS)
def test_streams_set_only_attributes_declared_on_the_base_stream(key):
    declared = set(Stream.__annotations__) | {n for n in vars(Stream) if not n.startswith("_")}
    for stream in registry.get(key).provider.streams:
        assert stream.name and stream.object_type in common.COMMON_TYPES and stream.remote_name and stream.fields
        own = {n for cls in stream.__mro__ if cls not in (Stream, object) and issubclass(cls, Stream)
               for n in vars(cls) if not n.startswith("_")}
        assert own - declared == set(), f"{key}.{stream.name} sets undeclared {sorted(own - declared)}"
        assert set(stream.object_types()) <= set(common.COMMON_TYPES)


@pytest.mark.parametrize("key", KEYS)
def test_the_field_catalogue_feeds_real_common_fields(key):
    catalogue = registry.get(key).provider.field_catalogue()
    assert isinstance(catalogue, FieldCatalogue)
    assert set(catalogue.coerce) == KINDS and set(catalogue.compatible) == KINDS
    for object_type, fields in catalogue.defaults.items():
        names = {f.name for f in dataclasses.fields(common.COMMON_TYPES[object_type])}
        assert set(fields) <= names, f"{key} maps unknown {object_type} fields {set(fields) - names}"


@pytest.mark.parametrize("key", KEYS)
def test_webhooks_expose_verify_parse_and_answer(key):
    hooks = registry.get(key).webhooks
    placeholders = re.findall(r"<(\w+)>", hooks.ROUTE)
    assert set(placeholders) <= {"remote_org_id", "secret"} and hooks.MAX_BODY_BYTES > 0
    assert "secret" not in placeholders or hooks.ROUTE.endswith("<secret>")
    assert callable(hooks.parse) and callable(hooks.test_delivery)
    answers = {outcome: hooks.answer(outcome) for outcome in ("accepted", "malformed", "refused")}
    assert all(isinstance(a, Answer) for a in answers.values())
    assert answers["accepted"].status < 300 and answers["malformed"].status == 400
    assert answers["refused"].status in (401, 403)
    # An unsigned request for an account with no live connection is refused before anything is parsed.
    config = types.SimpleNamespace(**{f"{key.upper()}_CLIENT_SECRET": "the app's secret"})
    forged = Inbound(method="POST", url=f"https://pipewise.example/webhooks/{key}", path_and_query=f"/webhooks/{key}",
                     headers={}, body=b"not even a body",
                     path_args={name: "00D000000000001AAA" for name in placeholders}, public_url=None)
    assert hooks.verify(forged, config, lambda org, secret: False) is False


@pytest.mark.parametrize("key", [key for key in KEYS if registry.provider(key).panel in SIGNED_PANELS])
def test_a_signed_panel_is_verified_by_the_package_before_anything_is_read(key):
    provider = registry.get(key).provider
    module = _module(key, "panel")
    assert provider.panel_module() is module
    assert list(inspect.signature(module.verify).parameters) == ["request", "app", "checks"]
    assert list(inspect.signature(Provider.verify_panel).parameters) == ["request", "app", "checks"]
    if provider.panel == "canvas":
        assert [hook for hook in CANVAS_HOOKS if not hasattr(module, hook)] == []
        # Each panel is an app at the CRM with credentials from the provider's own settings.
        config = Config()
        credentials = {app: module.app_credentials(config, app) for app in PANEL_APPS}
        assert all(client_id and secret for client_id, secret in credentials.values())
        assert len(set(credentials.values())) == len(PANEL_APPS), "each panel's app signs with its own secret"
        assert module.APPROVAL_FRAMES and all(o.startswith("https://") for o in module.APPROVAL_FRAMES)
        get = PanelRequest(method="GET", url="https://pipewise.example/", path_and_query="/", headers={}, body=b"",
                           path_args={}, args={}, form={}, public_url=None)
        assert module.approval_required(get) is False
    # A request the CRM did not sign is refused without a look at the store or Redis.
    config = Config()

    def not_consulted(remote_org_id):
        raise AssertionError("an unsigned request reached the store")

    forged = PanelRequest(method="POST", url=f"https://pipewise.example/embed/{key}/x?portalId=1&userId=2",
                          path_and_query=f"/embed/{key}/x?portalId=1&userId=2", headers={"X-Forged": "1"},
                          body=b"signed_request=c2lnbmF0dXJl", path_args={}, args={"portalId": "1", "userId": "2", "associatedObjectId": "1"},
                          form={"signed_request": "c2lnbmF0dXJl.eyJhbGdvcml0aG0iOiJITUFDU0hBMjU2In0="},
                          public_url=None)
    for app in PANEL_APPS:
        with pytest.raises(InvalidPanelRequest) as refused:
            module.verify(forged, app, PanelChecks(config=config, redis=None, instance_url_of=not_consulted))
        assert refused.value.reason and " " not in refused.value.reason, "a short slug safe to log"
    assert typing.get_type_hints(module.verify)["return"] is PanelContext


@pytest.mark.parametrize("key", KEYS)
def test_the_panel_hooks_name_origins_and_id_forms(key):
    provider = registry.get(key).provider
    assert provider.panel is None or (ROOT / registry.PACKAGES[key].replace(".", "/") / "panel.py").is_file()
    ancestors = provider.frame_ancestors("https://crm.example:8443/some/page?x=1")
    assert ancestors[0] == "https://crm.example:8443" and all(url_origin(a) == a for a in ancestors)
    for hostile in (None, "", "javascript:alert(1)", "https://crm.example:99999", "https://a b.example"):
        assert provider.frame_ancestors(hostile) == [], hostile
    for remote_id in ("00D000000000001", "00D000000000001AAA", "12345", "3fa85f64-5717-4562-b3fc-2c963f66afa6"):
        forms = provider.id_forms(remote_id)
        assert remote_id in forms and len(forms) == len(set(forms))


def test_embed_and_web_hold_no_crms_panel_details():
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for folder in ("embed", "web") for path in sorted((ROOT / folder).rglob("*.py"))
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if PANEL_DETAILS.search(line)]
    assert found == []


def test_nothing_outside_the_connectors_names_a_crm():
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for folder in ("sync", "scoring", "embed", "web") for path in sorted((ROOT / folder).rglob("*.py"))
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if NAMED.search(line)]
    assert found == []
