"""API keys: created by ``vegafs keys create``, stored as a SHA-256 hash, never in clear.

A key is ``vfs_<lookup>_<secret>``: 16 hex digits (64 bits, so that lookups of different keys do
not collide) and 43 random URL-safe characters. The lookup part finds the row; the hash of the
whole key, compared in constant time, proves it. Keys carry 256 bits of randomness in the secret,
so a fast hash is enough (there is no password to brute-force). Keys made before the lookup grew
(8 hex digits) keep working: a key is found by whatever lookup part it has.
"""

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Row, Table, func, insert, select, update

from vegafs.db.database import Database, utcnow
from vegafs.db.models import ApiKey

SCOPES = ("read", "submit", "write", "admin")
KEY = cast(Table, ApiKey.__table__)
LOOKUP_BYTES = 8  # 16 hex digits: the column holds 16


@dataclass(frozen=True)
class KeyInfo:
    id: int
    name: str
    scopes: frozenset[str]
    root: str | None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create(db: Database, *, name: str, scopes: frozenset[str], root: str | None) -> str:
    """Store a new key; returns it in clear (the only time it is ever seen)."""
    unknown = scopes - set(SCOPES)
    if unknown:
        raise ValueError(f"unknown scope {sorted(unknown)[0]!r} (known: {', '.join(SCOPES)})")
    if not scopes:
        raise ValueError("a key needs at least one scope")
    lookup = secrets.token_hex(LOOKUP_BYTES)
    key = f"vfs_{lookup}_{secrets.token_urlsafe(32)}"
    with db.write() as conn:
        conn.execute(
            insert(KEY).values(
                name=name,
                lookup=lookup,
                key_hash=_hash(key),
                scopes=",".join(s for s in SCOPES if s in scopes),
                root=root,
                created_at=utcnow(),
            )
        )
    return key


def verify(db: Database, key: str) -> KeyInfo | None:
    lookup = lookup_of(key)
    if lookup is None:
        return None
    with db.read() as conn:
        row = conn.execute(
            select(KEY).where(KEY.c.lookup == lookup, KEY.c.revoked_at.is_(None))
        ).first()
    return None if row is None else proven(row._mapping, key)


def lookup_of(key: str) -> str | None:
    """The lookup part of ``vfs_<lookup>_<secret>``; None when ``key`` is not of that form."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "vfs":
        return None
    return parts[1]


def proven(row: Mapping[Any, Any], key: str) -> KeyInfo | None:
    """The key's row, once the hash of ``key`` proves it (a constant-time comparison)."""
    if not hmac.compare_digest(row["key_hash"], _hash(key)):
        return None
    scopes = frozenset(row["scopes"].split(","))
    return KeyInfo(id=row["id"], name=row["name"], scopes=scopes, root=row["root"])


def active_count(db: Database) -> int:
    with db.read() as conn:
        return int(
            conn.execute(select(func.count()).where(KEY.c.revoked_at.is_(None))).scalar_one()
        )


def list_keys(db: Database) -> list[Row[Any]]:
    with db.read() as conn:
        return list(conn.execute(select(KEY).order_by(KEY.c.id)))


def revoke(db: Database, name: str) -> bool:
    with db.write() as conn:
        stmt = (
            update(KEY)
            .where(KEY.c.name == name, KEY.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        return conn.execute(stmt).rowcount == 1
