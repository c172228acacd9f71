"""API keys and scopes.

``Authorization: Bearer vfs_...``. On a server bound to a loopback address, while no active key
exists the service is open (every request acts as the ``local`` principal with every scope). A
server bound to any other address is never open: with no active key (say the last one was revoked)
every request is refused with 401. ``vegafs serve`` passes its address to the app (and to the
processes of ``--workers``) as ``VEGAFS_BIND_HOST``; an app built without it is never open either.
``vegafs serve`` also refuses to start on a non-loopback address with no key. Once a key exists,
every request needs one. Verified keys are remembered for
``VEGAFS_AUTH_MEMO_S`` seconds (5), so a revoked key stops working within that time, and the
first key created makes the service closed within that time too.
"""

import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from vegafs.api.problems import Problem
from vegafs.db import keys as key_repo
from vegafs.db.store import JobStore

LOCAL = "local"


@dataclass(frozen=True)
class Principal:
    name: str
    scopes: frozenset[str]
    root: Path | None

    @property
    def admin(self) -> bool:
        return "admin" in self.scopes

    def may_see(self, owner: str) -> bool:
        return self.admin or owner == self.name


OPEN = Principal(LOCAL, frozenset(key_repo.SCOPES), None)


class Authenticator:
    """Who a request's key is, read from the store and remembered for ``memo_s`` seconds. It
    runs in the event loop: the memo needs no lock."""

    def __init__(self, store: JobStore, memo_s: float, *, may_be_open: bool) -> None:
        self._store = store
        self._may_be_open = may_be_open
        self._memo_s = memo_s
        self._keys: dict[str, tuple[float, Principal | None]] = {}
        self._open_until = 0.0
        self._open = False

    async def _is_open(self) -> bool:
        if not self._may_be_open:
            return False
        now = time.monotonic()
        if now < self._open_until:
            return self._open
        is_open = await self._store.active_key_count() == 0
        self._open, self._open_until = is_open, now + self._memo_s
        return is_open

    async def principal(self, authorization: str | None) -> Principal:
        if authorization is None:
            if await self._is_open():
                return OPEN
            raise _unauthorized("an API key is required (Authorization: Bearer <key>)")
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise _unauthorized("the Authorization header must be 'Bearer <key>'")
        key = key.strip()
        now = time.monotonic()
        memo = self._keys.get(key)
        if memo is None or memo[0] < now:
            info = await self._store.verify_key(key)
            found = (
                None
                if info is None
                else Principal(info.name, info.scopes, Path(info.root) if info.root else None)
            )
            if len(self._keys) > 10_000:
                self._keys.clear()
            self._keys[key] = memo = (now + self._memo_s, found)
        if memo[1] is None:
            raise _unauthorized("the API key is not valid (unknown or revoked)")
        return memo[1]


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


class KeyWithScope(HTTPBearer):
    """The dependency of an authenticated route: the caller's principal, which must hold
    ``scope``. It is an HTTPBearer so that the OpenAPI schema declares the scheme (as
    ``HTTPBearer``); the header is read and checked by Authenticator. (One dependency, not a
    second one for the schema: each costs FastAPI a pass of its solver per request.)"""

    def __init__(self, scope: str) -> None:
        super().__init__(
            auto_error=False,
            scheme_name="HTTPBearer",
            bearerFormat="vfs_<lookup>_<secret>",
            description="An API key from `vegafs keys create`. Not needed while no key exists.",
        )
        self.scope = scope

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        auth: Authenticator = request.app.state.services.auth
        who = await auth.principal(request.headers.get("authorization"))
        # submit implies read: a key sees the jobs it submits.
        held = who.scopes | ({"read"} if "submit" in who.scopes else set())
        if self.scope not in held and not who.admin:
            raise Problem(403, "forbidden", f"the API key lacks the {self.scope!r} scope")
        return who


def require(scope: str) -> KeyWithScope:
    """A dependency: the caller's principal, which must hold ``scope``."""
    return KeyWithScope(scope)


ReadPrincipal = Depends(require("read"))
SubmitPrincipal = Depends(require("submit"))
