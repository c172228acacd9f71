"""The journal's three settings as a local writing command reads them (vegafs.local_settings):
without pydantic when the environment sets no setting but the data directory, and then the
values Settings would read; from Settings whenever the environment sets anything else. A bad
setting, or a journal database that cannot be reached, is one line and exit 2."""

import os
import socket
from pathlib import Path

import pytest

from conftest import Vegafs
from vegafs.local_settings import JournalConfig, _plain_data_dir, journal_config
from vegafs.settings import Settings, get_settings

PLAIN = [
    {},
    {"VEGAFS_DATA_DIR": "/srv/vegafs"},
    {"vegafs_data_dir": "/srv/lower-case"},  # pydantic-settings ignores the case of names
    {"XDG_DATA_HOME": "/xdg"},
    {
        "VEGAFS_DATA_DIR": "/srv/v",
        "VEGAFS_QUICK": "1",
        "VEGAFS_SERVER": "http://h:1",
        "VEGAFS_API_KEY": "k",
        "VEGAFS_TEST_ANYTHING": "1",
    },
]
FROM_SETTINGS = [
    {"VEGAFS_DATABASE_URL": "postgresql://user@host/db"},
    {"VEGAFS_DATA_DIR": "/srv/v", "VEGAFS_BACKUP_RETENTION_DAYS": "2.5"},
    {"VEGAFS_DATA_DIR": ""},
    {"VEGAFS_LEASE_S": "3"},
    {"VEGAFS_DATA_DIR": "/a", "vegafs_data_dir": "/b"},
]


@pytest.mark.parametrize(
    ("env", "plain"), [(e, True) for e in PLAIN] + [(e, False) for e in FROM_SETTINGS]
)
def test_the_journal_settings_are_the_settings(
    env: dict[str, str], plain: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.upper().startswith("VEGAFS_") or name == "XDG_DATA_HOME":
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        assert (_plain_data_dir() is not None) is plain
        s = Settings()
        assert journal_config() == JournalConfig(s.database, s.data_dir, s.backup_retention_days)
    finally:
        get_settings.cache_clear()


BAD_URL = (
    "vegafs: error: invalid VEGAFS_DATABASE_URL: not a database URL (expected sqlite:///PATH or "
    "postgresql://HOST/NAME)\n"
)


@pytest.mark.parametrize(
    ("args", "quick"),
    [
        (["replace", "a", "b", "t", "--apply"], "1"),  # the quick path
        (["replace", "a", "b", "t", "--apply"], "0"),
        (["rename", "t", "--match", "a", "--to", "b", "--apply"], "1"),
        (["ops", "list"], "1"),
        (["recover"], "1"),
    ],
)
def test_a_writing_command_names_a_bad_setting_and_exits_2(
    vegafs: Vegafs, tmp_path: Path, args: list[str], quick: str
) -> None:
    """The journal's settings, not valid: one line naming the variable, exit 2, nothing done
    (it was a traceback and exit 1)."""
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a").write_text("a")
    env = {"VEGAFS_DATABASE_URL": "bogus", "VEGAFS_QUICK": quick}
    out = vegafs.run(*args, cwd=tmp_path, env=env)
    assert (out.returncode, out.text, out.stderr) == (2, "", BAD_URL)
    assert (tmp_path / "t" / "a").read_text() == "a"


@pytest.mark.parametrize(
    ("args", "quick"),
    [
        (["replace", "a", "b", "t", "--apply"], "1"),
        (["replace", "a", "b", "t", "--apply"], "0"),
        (["rename", "t", "--match", "a", "--to", "b", "--apply"], "1"),
        (["ops", "list"], "1"),
        (["ops", "show", "1"], "1"),
        (["recover"], "1"),
    ],
)
def test_a_writing_command_says_its_database_cannot_be_reached(
    vegafs: Vegafs, tmp_path: Path, args: list[str], quick: str
) -> None:
    """The journal's PostgreSQL refuses connections: one line, exit 2, nothing done (the
    journal commands printed a traceback)."""
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a").write_text("a")
    url = f"postgresql://vegafs:x@127.0.0.1:{port}/none"
    out = vegafs.run(*args, cwd=tmp_path, env={"VEGAFS_DATABASE_URL": url, "VEGAFS_QUICK": quick})
    assert (out.returncode, out.text) == (2, "")
    assert out.stderr.startswith("vegafs: error: database unavailable: connection failed: ")
    assert out.stderr.count("\n") == 1, out.stderr
    assert (tmp_path / "t" / "a").read_text() == "a"
