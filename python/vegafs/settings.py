"""The service's settings: one pydantic-settings object, read once from ``VEGAFS_*`` variables.

The defaults are the embedded service: a SQLite file in the data directory, an in-process cache
and event bus, no server to install.
"""

import ipaddress
import os
import socket
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, PositiveFloat, PositiveInt, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from vegafs.errors import SettingsError
from vegafs.local_settings import default_data_dir

# The most attempts a job may have: the API's bound on a submission's max_attempts too.
MAX_ATTEMPTS = 20
DATABASES = ("sqlite", "postgresql")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VEGAFS_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file vegafs.db in data_dir."
    )
    redis_url: str | None = Field(default=None, description="None: in-process cache and bus.")
    roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Directories the API may touch, separated by ':' (os.pathsep).",
    )

    # Queue
    lease_s: PositiveFloat = 30.0
    heartbeat_s: PositiveFloat = 0.5
    poll_s: PositiveFloat = 1.0
    max_attempts: int = Field(default=3, ge=1, le=MAX_ATTEMPTS)
    retry_base_s: PositiveFloat = 2.0
    retry_max_s: PositiveFloat = 300.0

    # Sharding
    dupes_split_hash_bytes: int = Field(
        default=4 << 30,
        ge=0,
        description="A sharded dupes job whose candidates weigh at least this (their bytes plus "
        "64 KiB a file) hashes them in a second round of shards; below it, in one place.",
    )

    # Journal
    backup_retention_days: PositiveFloat | None = Field(
        default=None,
        description="Finished writing operations older than this are forgotten (backups "
        "deleted, no undo) when a writing operation starts; none: kept until `ops forget`.",
    )

    # Cache
    cache_ttl_s: PositiveFloat = 300.0
    cache_timeout_s: PositiveFloat = 0.25

    # API
    auth_memo_s: float = Field(default=5.0, ge=0, description="How long a checked key is trusted.")
    max_body_bytes: PositiveInt = 1 << 20
    page_max: PositiveInt = 1000
    sse_keepalive_s: PositiveFloat = 15.0
    max_active_jobs_per_key: PositiveInt = Field(
        default=100, description="Queued + running jobs one API key may have (429 beyond)."
    )
    max_streams_per_key: PositiveInt = Field(
        default=10, description="Open event streams one API key may have, per process (429)."
    )
    max_streams: PositiveInt = Field(
        default=200, description="Open event streams of one server process (503 beyond)."
    )
    metrics_cache_s: float = Field(
        default=5.0, ge=0, description="How long /metrics reuses its job counts (0: never)."
    )
    bind_host: str | None = Field(
        default=None,
        description="The address the API listens on; set by `vegafs serve`. Only on a loopback "
        "address is the service open while no API key exists.",
    )

    @field_validator("roots", mode="before")
    @classmethod
    def _split_roots(cls, value: object) -> object:
        if isinstance(value, str):
            return [p for p in value.split(os.pathsep) if p]
        return value

    @field_validator("roots")
    @classmethod
    def _resolve_roots(cls, value: list[Path]) -> list[Path]:
        """Real paths of existing directories: a typo is refused at start, not at every job."""
        for p in value:
            if not p.is_dir():
                why = "is not a directory" if p.exists() else "does not exist"
                raise ValueError(f"{p} {why}")
        return [Path(os.path.realpath(p)) for p in value]

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        """A SQLite or PostgreSQL URL. The URL is not repeated (it may hold a password)."""
        if value is None:
            return value
        from sqlalchemy.engine import make_url  # here: settings load without SQLAlchemy
        from sqlalchemy.exc import ArgumentError

        try:
            backend = make_url(value).get_backend_name()
        except ArgumentError:
            raise ValueError(
                "not a database URL (expected sqlite:///PATH or postgresql://HOST/NAME)"
            ) from None
        if backend not in DATABASES:
            raise ValueError(f"unsupported database {backend!r} (supported: sqlite, postgresql)")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(REDIS_SCHEMES):
            schemes = ", ".join(REDIS_SCHEMES)
            raise ValueError(f"must start with one of {schemes} (e.g. redis://localhost:6379/0)")
        return value

    @property
    def database(self) -> str:
        """The database URL, with the default filled in."""
        return self.database_url or f"sqlite:///{self.data_dir / 'vegafs.db'}"

    def bound_to_loopback(self) -> bool:
        """True when the API listens on a loopback address only (None: not known, so not)."""
        return self.bind_host is not None and is_loopback(self.bind_host)

    @property
    def embedded(self) -> bool:
        """True on SQLite: `vegafs serve` then runs a worker in its own process."""
        return self.database.startswith("sqlite")


def is_loopback(host: str) -> bool:
    """``host`` (a name or an address) is a loopback address; a name must resolve only to those."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return False
        return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


@cache
def get_settings() -> Settings:
    return Settings()


def checked_settings() -> Settings:
    """``get_settings()``, a value that is no valid setting raised as ``SettingsError`` naming
    its variable (the first, if several)."""
    from pydantic import ValidationError

    try:
        return get_settings()
    except ValidationError as e:
        first = e.errors()[0]
        name = "VEGAFS_" + str(first["loc"][0]).upper() if first["loc"] else "VEGAFS_*"
        raise SettingsError(name, first["msg"].removeprefix("Value error, ")) from None


# VEGAFS_* variables that are read elsewhere: by the CLI's client commands, and by the tests.
_OTHER_VARIABLES = frozenset({"VEGAFS_SERVER", "VEGAFS_API_KEY"})


def unknown_variables(environ: dict[str, str] | None = None) -> list[str]:
    """VEGAFS_* variables in the environment that name no setting."""
    env = os.environ if environ is None else environ
    known = {f"VEGAFS_{name.upper()}" for name in Settings.model_fields}
    return sorted(
        name
        for name in env
        if name.startswith("VEGAFS_")
        and name not in known
        and name not in _OTHER_VARIABLES
        and not name.startswith("VEGAFS_TEST_")
    )
