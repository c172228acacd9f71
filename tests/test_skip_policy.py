"""Under CI nothing skips: a missing service or tool fails the run instead."""

import os
import subprocess
import sys
from pathlib import Path

CONFTEST = Path(__file__).parent / "conftest.py"
SKIPPING = """import pytest


def test_needs_a_tool() -> None:
    pytest.skip("the tool is missing")
"""


def run_pytest(tmp_path: Path, env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_missing_tool.py").write_text(SKIPPING)
    (tmp_path / "conftest.py").write_text(CONFTEST.read_text())
    (tmp_path / "stack.py").write_text((CONFTEST.parent / "stack.py").read_text())
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "VEGAFS_REQUIRE_SERVICES")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env | env_extra,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_skip_is_a_failure_under_ci(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, {"CI": "true"})
    assert done.returncode == 1, done.stdout
    assert "skipped under CI / VEGAFS_REQUIRE_SERVICES=1: Skipped: the tool is missing" in (
        done.stdout
    )
    assert "1 failed" in done.stdout


def test_a_skip_is_a_failure_when_services_are_required(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, {"VEGAFS_REQUIRE_SERVICES": "1"})
    assert done.returncode == 1, done.stdout


def test_elsewhere_a_missing_tool_skips_saying_why(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, {})
    assert done.returncode == 0, done.stdout
    assert "1 skipped" in done.stdout
