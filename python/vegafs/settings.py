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


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "vegafs"


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
    max_attempts: PositiveInt = 3
    retry_base_s: PositiveFloat = 2.0
    retry_max_s: PositiveFloat = 300.0

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
        return [Path(os.path.realpath(p)) for p in value]

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
