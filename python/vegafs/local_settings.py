"""The three settings a local writing command needs for its journal (the database, the data
directory that holds the backups, the backups' retention), read without pydantic when the
environment allows.

pydantic-settings costs a writing command about a tenth of a second of CPU, spent while the
core plans on the same cores (docs/benchmarks.md). When no ``VEGAFS_*`` variable that names a
setting is set but ``VEGAFS_DATA_DIR``, every other setting has its default: the three are read
here, as ``Settings`` would read them. Otherwise they come from ``Settings``, with its checks
and its errors. A test holds the two readings equal.
"""

import os
from dataclasses import dataclass
from pathlib import Path

# VEGAFS_* variables that name no setting (read by the command line and the tests).
_NOT_SETTINGS = frozenset({"VEGAFS_QUICK", "VEGAFS_SERVER", "VEGAFS_API_KEY"})


@dataclass(frozen=True)
class JournalConfig:
    database: str  # the database URL, the default filled in
    data_dir: Path
    backup_retention_days: float | None


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "vegafs"


def journal_config() -> JournalConfig:
    """The three settings; ``SettingsError`` for a variable that is no valid setting."""
    data_dir = _plain_data_dir()
    if data_dir is not None:
        return JournalConfig(f"sqlite:///{data_dir / 'vegafs.db'}", data_dir, None)
    from vegafs.settings import checked_settings

    s = checked_settings()
    return JournalConfig(s.database, s.data_dir, s.backup_retention_days)


def _plain_data_dir() -> Path | None:
    """The data directory, when it is the only setting the environment sets (names compared
    without case, as pydantic-settings compares them); None otherwise."""
    given = [
        (name.upper(), value)
        for name, value in os.environ.items()
        if name.upper().startswith("VEGAFS_")
        and name.upper() not in _NOT_SETTINGS
        and not name.upper().startswith("VEGAFS_TEST_")
    ]
    if not given:
        return default_data_dir()
    if len(given) == 1 and given[0][0] == "VEGAFS_DATA_DIR" and given[0][1]:
        return Path(given[0][1])
    return None
