"""What `pip install vegafs` gets. `make build` installs the package editable (its Python files
are read from python/), so the installed copy proves nothing about the wheel: this builds the
wheel as users get it (maturin, release; the Rust core comes from `make build`'s cargo cache)
and reads its file list.
"""

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD_TIMEOUT_S = 1800  # a cold cargo cache compiles the core: minutes on a loaded machine


def tracked_package_files() -> set[str]:
    """Every file git tracks under python/vegafs, as its name inside the wheel."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "python/vegafs"],
        cwd=REPO,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    return {name.removeprefix("python/") for name in listed.split("\0") if name}


def test_the_wheel_holds_every_package_file_and_the_dashboards_static_files(
    tmp_path: Path,
) -> None:
    maturin = Path(sys.executable).parent / "maturin"
    done = subprocess.run(
        [str(maturin), "build", "--release", "--quiet", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [wheel] = tmp_path.glob("vegafs-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    static = {n for n in tracked_package_files() if n.startswith("vegafs/web/static/")}
    # The dashboard's page, style and scripts (as tracked in git, and at least these).
    assert {
        "vegafs/web/static/index.html",
        "vegafs/web/static/style.css",
        "vegafs/web/static/app.js",
    } <= static
    assert static <= names, sorted(static - names)
    # Nothing else git tracks in the package is left out (migrations, stubs, py.typed).
    missing = tracked_package_files() - names
    assert missing == set(), sorted(missing)
    assert [n for n in names if n.startswith("vegafs/_native") and n.endswith(".so")]
