"""`vegafs move` (planning): template paths below a destination, the directories to create,
bad paths refused with their reason, targets through files, nothing on disk changed; the same
plan as a job, and applied as one."""

import calendar
import json
import os
from pathlib import Path

import pytest

from conftest import Vegafs
from stack import Stack
from test_cli_jobs import ok, run
from test_cli_rename import snapshot
from vegafs.engine.moving import MoveOptions, plan_move

UTC = {"TZ": "UTC"}


def at(year: int, month: int) -> int:
    """Noon on the 15th of the month, UTC: the same month in any time zone."""
    return calendar.timegm((year, month, 15, 12, 0, 0))


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    (root / "trip").mkdir(parents=True)
    for name, when in [("a.jpg", at(2023, 5)), ("b.jpg", at(2023, 11)), ("c.jpg", at(2024, 1))]:
        (root / name).write_text(name)
        os.utime(root / name, (when, when))
    (root / "trip" / "d.jpg").write_text("d")
    os.utime(root / "trip" / "d.jpg", (at(2023, 5), at(2023, 5)))
    return root


def plan(vegafs: Vegafs, root: Path, *args: str) -> tuple[int, list[str], str]:
    before = snapshot(root)
    out = vegafs.run("move", root.name, *args, cwd=root.parent, env=UTC)
    assert snapshot(root) == before  # a plan never changes the tree
    return out.returncode, out.stdout.decode("utf-8", "surrogateescape").splitlines(), out.stderr


def test_photos_by_year_and_month(vegafs: Vegafs, photos: Path) -> None:
    code, lines, err = plan(vegafs, photos, "--type", "file", "--to",
                            "{mtime:%Y}/{mtime:%m}/{name}")  # fmt: skip
    assert code == 0, err
    assert lines == [
        "mkdir photos/2023",
        "mkdir photos/2023/05",
        "mkdir photos/2023/11",
        "mkdir photos/2024",
        "mkdir photos/2024/01",
        "photos/a.jpg -> photos/2023/05/a.jpg",
        "photos/b.jpg -> photos/2023/11/b.jpg",
        "photos/c.jpg -> photos/2024/01/c.jpg",
        # Below the root it was found under, not below its own directory.
        "photos/trip/d.jpg -> photos/2023/05/d.jpg",
    ]
    assert err == (
        "vegafs: plan: 4 to move, 5 directories to create, 0 unchanged, 0 refused (4 steps); "
        "may be applied. Nothing was changed.\n"
    )


def test_an_existing_directory_is_not_created_and_dest_is_honoured(
    vegafs: Vegafs, photos: Path
) -> None:
    (photos.parent / "sorted" / "2023").mkdir(parents=True)
    code, lines, err = plan(vegafs, photos, "-m", r"^[ab]\.jpg$", "--to", "{mtime:%Y}/{name}",
                            "--dest", "sorted")  # fmt: skip
    assert code == 0, err
    assert lines == [
        "photos/a.jpg -> sorted/2023/a.jpg",
        "photos/b.jpg -> sorted/2023/b.jpg",
    ]
    assert "2 to move, 0 unchanged" in err


def test_bad_paths_are_refused_with_their_reason(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    for name in ["abs", "dots", "empty", "trailing", "dot", "ok"]:
        (root / name).write_text(name)
    templates = {
        "abs": "/etc/{name}",
        "dots": "../{name}",
        "empty": "x//{name}",
        "trailing": "{name}/",
        "dot": "./{name}",
    }
    refused = {}
    for name, template in templates.items():
        options = MoveOptions(pattern=f"^{name}$", template=template)
        rows, steps, mkdirs, summary, _across = plan_move(root, options)
        assert (summary.ok, summary.refused, steps, mkdirs) == (False, 1, [], [])
        refused[name] = rows[0]["reason"]
    assert refused == {
        "abs": "invalid path: absolute; the template gives a path below --dest",
        "dots": "invalid path: a '..' component would leave --dest",
        "empty": "invalid path: an empty component ('//' or a '/' at the end)",
        "trailing": "invalid path: an empty component ('//' or a '/' at the end)",
        "dot": "invalid path: a '.' component",
    }
    assert sorted(p.name for p in root.iterdir()) == sorted([*templates, "ok"])


def test_a_path_through_a_file_is_refused(vegafs: Vegafs, tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "notes").write_text("a file, not a directory")
    (root / "a.txt").write_text("a")
    code, lines, err = plan(vegafs, root, "-m", "^a", "--to", "notes/sub/{name}")
    assert code == 1
    assert lines == ["r/a.txt -> r/notes/sub/a.txt: refused, r/notes exists and is not a directory"]
    assert "0 to move, 0 unchanged, 1 refused (0 steps); refused: see the reasons above" in err


def test_conflicts_chains_and_a_directory_into_itself(vegafs: Vegafs, tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "d").mkdir(parents=True)
    for name in ["x", "y", "d/z"]:
        (root / name).write_text(name)
    # Every entry to one name: several onto one target.
    code, lines, _ = plan(vegafs, root, "--type", "file", "--to", "all/one")
    assert code == 1
    assert lines == [
        "r/x -> r/all/one: refused, several entries onto this target",
        "r/y -> r/all/one: refused, several entries onto this target",
        "r/d/z -> r/all/one: refused, several entries onto this target",  # numbered by name
    ]
    # A directory into itself.
    code, lines, _ = plan(vegafs, root, "-m", "^d$", "--to", "d/inner/{name}")
    assert (code, lines) == (1, ["r/d -> r/d/inner/d: refused, a directory into itself"])
    # With --on-conflict suffix, the taken name gets a suffix.
    code, lines, err = plan(vegafs, root, "-m", "^x$", "--to", "d/z", "--on-conflict", "suffix")
    assert (code, lines) == (0, ["r/x -> r/d/z-1"]), err


@pytest.mark.parametrize("spelled", [".", "./", "ABSOLUTE"])
def test_targets_are_spelled_as_the_entries_whatever_the_dest(
    vegafs: Vegafs, tmp_path: Path, spelled: str
) -> None:
    """--dest . or an absolute one, with a relative root: a chain is still seen as one (f1 ->
    f2 while f2 -> f3), and a directory into itself is refused at the plan."""
    root = tmp_path / "r"
    (root / "sub").mkdir(parents=True)
    for name in ["f1", "f2", "sub/x"]:
        (root / name).write_text(name)
    dest = str(tmp_path) if spelled == "ABSOLUTE" else spelled
    code, lines, err = plan(vegafs, root, "-t", "f", "-m", "^f", "--to", "r/f{n}", "--start", "2",
                            "--sort", "name", "--dest", dest)  # fmt: skip
    assert (code, lines) == (0, ["r/f1 -> r/f2", "r/f2 -> r/f3"]), err
    code, lines, _ = plan(vegafs, root, "-t", "d", "-m", "^sub$", "--to", "r/sub/in/{name}",
                          "--dest", dest)  # fmt: skip
    assert (code, lines) == (1, ["r/sub -> r/sub/in/sub: refused, a directory into itself"])


def test_another_file_system_takes_files_not_directories(tmp_path: Path, other_fs: Path) -> None:
    root = tmp_path / "r"
    (root / "d").mkdir(parents=True)
    (root / "a").write_text("a")
    options = MoveOptions(template="{name}", dest=str(other_fs))
    rows, steps, _mkdirs, summary, _across = plan_move(root, options)
    assert (summary.ok, summary.across, steps) == (False, 1, [])
    assert {r["from"]: r["reason"] for r in rows} == {
        f"{root}/a": None,
        f"{root}/d": "another file system (EXDEV): only files and symlinks are moved across "
        "file systems (move a directory's files)",
    }
    plan = plan_move(root, MoveOptions(pattern="^a$", template="{name}", dest=str(other_fs)))
    assert (plan.summary.ok, plan.steps) == (True, [(f"{root}/a", f"{other_fs}/a", 0)])
    assert plan.across == {0}


def test_json_rows_and_the_engine(vegafs: Vegafs, photos: Path) -> None:
    out = vegafs.run("move", "photos", "-m", "^a", "--to", "{mtime:%Y}/{name}", "--json",
                     cwd=photos.parent, env=UTC)  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert rows == [
        {"from": None, "to": "photos/2023", "action": "mkdir", "reason": None},
        {"from": "photos/a.jpg", "to": "photos/2023/a.jpg", "action": "move", "reason": None},
    ]


def test_a_move_plan_as_a_job(stack: Stack, service_root: Path) -> None:
    args = ["move", str(service_root), "-m", r"\.txt$", "--to", "text/{name}"]
    local = ok(run(None, *args, "--json"))
    remote = run(stack, *args, "--json", "--submit", "--wait")
    assert remote.returncode == 0, remote.stderr
    assert sorted(remote.stdout.splitlines()) == sorted(local.splitlines())
    assert [json.loads(line)["to"] for line in local.splitlines()] == [
        str(service_root / "text"),
        str(service_root / "text" / "one.txt"),
    ]
    applied = run(stack, *args, "--apply", "--submit", "--wait")
    assert applied.returncode == 0, applied.stderr
    assert list(service_root.rglob("one.txt")) == [service_root / "text" / "one.txt"]
