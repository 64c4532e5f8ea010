"""The demo's Dynamics 365 environment: what the smoke run counts and checks in it (Pipewise registers its webhook
itself, sync.webhook_registration)."""
from __future__ import annotations

import math
from datetime import datetime

import requests
from sqlalchemy import func, select

from sync.store import WritebackLedger

# Entity set → the common object its rows land in (what can be counted on both sides).
OBJECTS = {"accounts": "account", "contacts": "contact", "leads": "lead", "opportunities": "opportunity",
           "tasks": "activity", "phonecalls": "activity", "appointments": "activity", "emails": "activity",
           "systemusers": "user", "campaigns": "campaign"}
SCORE_COLUMN = "pw_score"


def sandbox_counts(server) -> dict[str, int]:
    """Live rows in the environment per common object."""
    counts: dict[str, int] = {}
    for entity_set, n in server.info()["counts"].items():
        if entity_set in OBJECTS:
            counts[OBJECTS[entity_set]] = counts.get(OBJECTS[entity_set], 0) + n
    return counts


def _api(stack) -> requests.Session:
    """The environment admin's Web API session, to read what the CRM holds."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(stack.dynamics.ca_path)
    session.headers.update({"Authorization": f"Bearer {stack.dynamics_control.token()['access_token']}",
                            "Accept": "application/json", "OData-Version": "4.0", "OData-MaxVersion": "4.0"})
    return session


def _ok(answer: requests.Response, what: str) -> requests.Response:
    if answer.status_code >= 400:
        raise RuntimeError(f"The Dynamics environment refused {what}: {answer.status_code} "
                           f"{answer.text[:300]}")
    return answer


def writeback_check(stack, connection_id: int, since: datetime, writeback_calls: int) -> dict:
    """The writeback as the environment saw it: calls it received this run against ⌈written / batch size⌉.

    ``expected_calls`` sums ⌈records written / writeback_batch_size⌉ per table (one UpdateMultiple
    names one entity set); ``sandbox_calls`` are the UpdateMultiple and $batch requests that reached
    the environment during this run; ``sandbox_rows_with_score`` the lead and opportunity rows that
    carry a Pipewise score there now.
    """
    from connectors.dynamics.provider import DynamicsProvider

    with stack.runtime.sessions() as db:
        written = dict(db.execute(select(WritebackLedger.object_type,
                                         func.count(func.distinct(WritebackLedger.remote_id)))
                                  .where(WritebackLedger.connection_id == connection_id,
                                         WritebackLedger.status == "written", WritebackLedger.written_at >= since)
                                  .group_by(WritebackLedger.object_type)).all())
    size = DynamicsProvider.writeback_batch_size
    expected = sum(math.ceil(n / size) for n in written.values())
    log = stack.dynamics_requests
    received = log.count("POST", ".UpdateMultiple") + log.count("POST", "/$batch")
    store = stack.dynamics.sandbox.store
    with_score = sum(1 for table in ("lead", "opportunity") for row in store.rows(table)
                     if row.get(SCORE_COLUMN) is not None)
    return {"records_written": written, "batch_size": size, "expected_calls": expected,
            "sandbox_calls": received, "sandbox_rows_with_score": with_score,
            "ok": writeback_calls == received == expected}


def panel_check(stack, connection_id: int) -> str:
    """Open one scored deal's form panel as Dynamics frames it; "ok" when it shows the column's score.

    The frame signs in silently first; the first time that is refused, so the viewer signs in once in
    the popup (the tenant's consent page) and the frame then opens the panel silently.
    """
    import html
    import re
    from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

    from sync.store import Score

    with stack.runtime.sessions() as db:
        score = db.scalar(select(Score).where(Score.connection_id == connection_id,
                                              Score.object_type == "opportunity").order_by(Score.remote_id).limit(1))
    if score is None:
        return "no scored deal"
    box = stack.dynamics.sandbox
    admin = box.user(box.store.meta("admin_id"))["domainname"]
    pipewise, entra = requests.Session(), requests.Session()
    pipewise.trust_env = entra.trust_env = False
    entra.verify = str(stack.dynamics.ca_path)
    settings = stack.dynamics.settings
    form = {"id": "{" + score.remote_id.upper() + "}", "orgname": settings.org_name, "typename": "opportunity",
            "type": "3", "userlcid": "1033", "orglcid": "1033"}

    def open_frame() -> requests.Response:
        started = pipewise.get(urljoin(stack.web_url, "/embed/dynamics/panel?" + urlencode(form)),
                               allow_redirects=False, timeout=30)
        if started.status_code != 302:
            return started
        back = entra.get(started.headers["Location"], allow_redirects=False, timeout=30)
        return pipewise.get(back.headers["Location"], allow_redirects=False, timeout=30)

    first = open_frame()
    prompt = re.search(r'data-authorize="([^"]+)"', first.text)
    if prompt:  # the popup: the tenant's consent page, Accept as the environment's admin
        authorize = html.unescape(prompt.group(1))
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
        answer = entra.post(authorize.split("?")[0], data={**query, "user": admin, "action": "allow"},
                            allow_redirects=False, timeout=30)
        if answer.status_code != 302:
            return f"the tenant refused the panel's sign-in: {answer.status_code}"
        pipewise.get(answer.headers["Location"], allow_redirects=False, timeout=30)
        first = open_frame()
    if first.status_code != 200:
        return f"panel answered {first.status_code}"
    crm = _ok(_api(stack).get(f"{stack.dynamics.web_api}/opportunities({score.remote_id})?$select={SCORE_COLUMN}",
                              timeout=30), "reading the deal").json()
    if str(crm.get(SCORE_COLUMN)).split(".")[0] != str(score.score):
        return f"CRM column {crm.get(SCORE_COLUMN)} differs from the stored score {score.score}"
    if f">{score.score}<" not in first.text:
        return "the panel does not show the score"
    return "ok"
