"""Server-side sessions: the cookie holds a random id, the session itself lives in Redis.

Signing out deletes the session, so a cookie copied before cannot open the console again; an
admin's disconnect ends every other session of the organization at once (``revoke_organization``).
The cookie carries no personal data: only 256 random bits. Redis keys hold a hash of the id, so
a copy of Redis does not yield live cookies.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from datetime import timedelta
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from redis import Redis
from werkzeug.datastructures import CallbackDict

PREFIX = "pipewise:session:"
USER_INDEX = "pipewise:sessions:user:"
ORGANIZATION_INDEX = "pipewise:sessions:org:"


class ServerSession(CallbackDict, SessionMixin):
    """A session whose data stays on the server; ``sid`` is the cookie's value."""

    def __init__(self, initial: dict[str, Any] | None = None, sid: str | None = None, new: bool = False):
        def on_update(self):
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.sid = sid
        self.new = new
        self.modified = False
        self.rotate = False


def _key(sid: str) -> str:
    return PREFIX + hashlib.sha256(sid.encode()).hexdigest()


def user_index_key(user: dict[str, Any]) -> str:
    """The set of session keys of one CRM user."""
    return f"{USER_INDEX}{user.get('provider')}:{user.get('remote_org_id')}:{user.get('user_id')}"


class RedisSessionInterface(SessionInterface):
    """Flask sessions kept in Redis under a hash of a random cookie id."""

    def __init__(self, redis: Redis):
        self.redis = redis

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        sid = request.cookies.get(self.get_cookie_name(app))
        if sid and len(sid) <= 128:
            raw = self.redis.get(_key(sid))
            if raw is not None:
                try:
                    return ServerSession(json.loads(raw), sid=sid)
                except ValueError:
                    pass
        return ServerSession(new=True)

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:
        name = self.get_cookie_name(app)
        domain, path = self.get_cookie_domain(app), self.get_cookie_path(app)
        if not session:
            if session.sid and (session.modified or session.rotate):
                self.redis.delete(_key(session.sid))
                response.delete_cookie(name, domain=domain, path=path)
            return
        if not (session.modified or session.rotate or session.new) and not self.should_set_cookie(app, session):
            return
        existing = bool(session.sid) and not session.rotate
        if session.rotate and session.sid:
            self.redis.delete(_key(session.sid))
        if not existing:
            session.sid = secrets.token_urlsafe(32)
        ttl = _ttl(app)
        key = _key(session.sid)
        # An existing session is only updated, never created again: one revoked meanwhile (sign-out
        # elsewhere, a disconnect) must not come back because this request saved it.
        if not self.redis.set(key, json.dumps(dict(session), default=str), ex=ttl, xx=existing, nx=not existing):
            response.delete_cookie(name, domain=domain, path=path)
            return
        user = session.get("user")
        if user:
            # Indexes for revocation: every session of a user, and of an organization.
            pipe = self.redis.pipeline()
            for index in (user_index_key(user), f"{ORGANIZATION_INDEX}{user.get('organization_id')}"):
                pipe.sadd(index, key)
                pipe.expire(index, ttl)
            pipe.execute()
        response.set_cookie(name, session.sid, expires=self.get_expiration_time(app, session),
                            httponly=self.get_cookie_httponly(app), domain=domain, path=path,
                            secure=self.get_cookie_secure(app), samesite=self.get_cookie_samesite(app))
        response.vary.add("Cookie")


def _ttl(app: Flask) -> int:
    lifetime = app.permanent_session_lifetime
    return int(lifetime.total_seconds() if isinstance(lifetime, timedelta) else lifetime)


def rotate(session: ServerSession) -> None:
    """Give the session a new id when it is saved (sign-in), so an id known before is worthless."""
    session.rotate = True


def revoke_organization(redis: Redis, organization_id: int, keep: ServerSession | None = None) -> int:
    """End every session attached to an organization except ``keep``; return how many ended."""
    return _revoke_index(redis, f"{ORGANIZATION_INDEX}{organization_id}", keep)


def revoke_user(redis: Redis, user: dict[str, Any], keep: ServerSession | None = None) -> int:
    """End every session of one CRM user except ``keep``."""
    return _revoke_index(redis, user_index_key(user), keep)


def _revoke_index(redis: Redis, index: str, keep: ServerSession | None) -> int:
    kept = _key(keep.sid) if keep is not None and keep.sid else None
    keys = [k.decode() if isinstance(k, bytes) else k for k in redis.smembers(index)]
    doomed = [k for k in keys if k != kept]
    if doomed:
        redis.delete(*doomed)
        redis.srem(index, *doomed)
    return len(doomed)


def init_app(app: Flask, redis: Redis) -> None:
    """Keep the app's sessions in Redis."""
    app.session_interface = RedisSessionInterface(redis)
