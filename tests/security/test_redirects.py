"""Finding 5: no open redirect after sign-in, and no 500 for a strange ``next``.

The attack: ``/auth/login?next=/%09/evil.example`` ended in ``Location: //evil.example`` (browsers
drop the tab), and ``next=/%0A/…`` gave a 500.
"""
from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest

from tests.test_admin_signin import build_app, sign_in

HOSTILE = ["/%09/evil.example", "/%0A/evil.example", "/%0D%0ALocation:%20https://evil.example", "//evil.example",
           "/\\evil.example", "\\\\evil.example", "https://evil.example", "/%5C/evil.example",
           "javascript:alert(1)", "/%00/evil.example", "%2F%2Fevil.example", "/%E2%80%A8/evil.example",
           " //evil.example", "/\t/evil.example", "///evil.example", "http:/evil.example"]


@pytest.fixture
def app(tmp_path, sqlite_url, redis_url, sf_sandbox):
    return build_app(tmp_path, sqlite_url, redis_url, sf_sandbox)


@pytest.mark.parametrize("target", HOSTILE)
def test_sign_in_never_sends_the_browser_to_another_host(app, sf_sandbox, target):
    client = app.test_client()
    assert client.get(f"/auth/login?next={target if '%' in target else quote(target, safe='')}").status_code == 200
    landed = sign_in(client, sf_sandbox)
    assert landed.status_code == 302
    location = landed.headers["Location"]
    # What a browser would follow after dropping tabs and newlines and reading \\ as /.
    followed = "".join(c for c in location if c not in "\t\r\n").replace("\\", "/")
    parts = urlsplit(followed)
    assert not parts.scheme and not parts.netloc and not followed.startswith("//"), location


def test_a_path_on_this_site_is_kept(app, sf_sandbox):
    client = app.test_client()
    client.get("/auth/login?next=/admin/webhooks%3Fx%3D1")
    assert sign_in(client, sf_sandbox).headers["Location"] == "/admin/webhooks?x=1"
