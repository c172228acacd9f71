"""`vegafs rename` (planning): templates, numbering, conflicts refused with their reason,
chains and cycles ordered, nothing on disk changed; the same plan as a job."""

import json
import os
from pathlib import Path

import pytest

from conftest import Vegafs
from stack import Stack
from test_cli_jobs import ok, refused, run
from vegafs import engine, ops


def snapshot(root: Path) -> list[tuple[str, bytes]]:
    """Every path below `root` with its content (directories: b"/"), sorted."""
    return sorted((str(p), b"/" if p.is_dir() else p.read_bytes()) for p in root.rglob("*"))


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    (root / "2022").mkdir(parents=True)
    for name, mtime in [("IMG_2024_b.JPG", 300), ("IMG_2023_a.JPG", 200), ("notes.txt", 100)]:
        (root / name).write_text(name)
        os.utime(root / name, (mtime, mtime))
    (root / "2022" / "IMG_2022_c.JPG").write_text("c")
    os.utime(root / "2022" / "IMG_2022_c.JPG", (400, 400))
    return root


def plan(vegafs: Vegafs, root: Path, *args: str) -> tuple[int, list[str], str]:
    before = snapshot(root)
    out = vegafs.run("rename", root.name, *args, cwd=root.parent)
    assert snapshot(root) == before  # a plan never changes the tree
    return out.returncode, out.stdout.decode("utf-8", "surrogateescape").splitlines(), out.stderr


def test_a_template_with_captures_counters_and_filters(vegafs: Vegafs, photos: Path) -> None:
    code, lines, err = plan(vegafs, photos, "-m", r"^IMG_(?<year>\d{4})_(.*)\.JPG$",
                            "--to", "{year}-{n:02}-{2|upper}.{ext|lower}")  # fmt: skip
    assert code == 0, err
    # Numbered in name order: IMG_2022_c, IMG_2023_a, IMG_2024_b.
    assert lines == [
        "photos/2022/IMG_2022_c.JPG -> photos/2022/2022-01-C.jpg",
        "photos/IMG_2023_a.JPG -> photos/2023-02-A.jpg",
        "photos/IMG_2024_b.JPG -> photos/2024-03-B.jpg",
    ]
    assert err == (
        "vegafs: plan: 3 to rename, 0 unchanged, 0 refused (3 steps); may be applied. "
        "Nothing was changed.\n"
    )


def test_numbering_follows_the_sort(vegafs: Vegafs, photos: Path) -> None:
    code, lines, _ = plan(vegafs, photos, "-m", "JPG$", "--to", "{n}{stem|slug}.jpg", "--sort",
                          "mtime", "--reverse", "--start", "10", "--step", "5")  # fmt: skip
    assert code == 0
    assert lines == [  # mtime 400, 300, 200
        "photos/2022/IMG_2022_c.JPG -> photos/2022/10img-2022-c.jpg",
        "photos/IMG_2024_b.JPG -> photos/15img-2024-b.jpg",
        "photos/IMG_2023_a.JPG -> photos/20img-2023-a.jpg",
    ]


def test_a_cycle_is_planned_through_one_temporary_name(tmp_path: Path) -> None:
    root = tmp_path / "n"
    root.mkdir()
    for name in ["1.txt", "2.txt", "3.txt"]:
        (root / name).write_text(name)
    options = engine.RenameOptions(template="{n}.txt", reverse=True)  # 3->1, 2->2, 1->3
    rows, _steps, summary = engine.plan_rename(root, options)
    assert [(Path(r["from"]).name, Path(r["to"]).name, r["action"]) for r in rows] == [
        ("3.txt", "1.txt", "move"),
        ("2.txt", "2.txt", "unchanged"),
        ("1.txt", "3.txt", "move"),
    ]
    assert (summary.moves, summary.unchanged, summary.refused, summary.steps, summary.ok) == (
        2, 1, 0, 3, True,
    )  # fmt: skip


def test_conflicts_are_refused_with_their_reason(vegafs: Vegafs, photos: Path) -> None:
    (photos / "taken.jpg").write_text("in the way")
    (photos / "caf\u00e9.txt").write_text("NFC")
    code, lines, err = plan(vegafs, photos, "-m", "JPG$|notes", "--to", "{name}", "-t", "f")
    assert code == 0 and len(lines) == 4  # all unchanged
    cases = [
        (["-m", "2023", "--to", "taken.jpg"], "the target exists"),
        (["-m", "JPG$", "--to", "same.jpg", "-E", "2022"], "several entries onto this target"),
        (["-m", "2023", "--to", "{stem}/x"],
         "invalid name (empty, '.', '..', or a '/' or NUL in it)"),
        (["-m", "2023", "--to", "x" * 256], "name longer than 255 bytes"),
        (["-m", "notes", "--to", "cafe\u0301.txt"],
         "the target differs from another name only by Unicode normalisation"),
    ]  # fmt: skip
    for args, reason in cases:
        code, lines, err = plan(vegafs, photos, *args)
        assert code == 1, (args, lines, err)
        assert lines and all(line.endswith(f": refused, {reason}") for line in lines), lines
        assert err.endswith("; refused: see the reasons above. Nothing was changed.\n")


def test_skip_and_suffix(vegafs: Vegafs, photos: Path) -> None:
    (photos / "taken.jpg").write_text("in the way")
    args = ["-m", "JPG$", "-E", "2022", "--to", "taken.jpg"]
    code, lines, err = plan(vegafs, photos, *args, "--on-conflict", "skip")
    assert code == 0
    assert all(line.endswith(": refused, several entries onto this target") for line in lines)
    assert ", 2 refused, left where they are (0 steps); may be applied." in err
    code, lines, err = plan(vegafs, photos, *args, "--on-conflict", "suffix")
    assert (code, lines) == (0, [
        "photos/IMG_2023_a.JPG -> photos/taken-1.jpg",
        "photos/IMG_2024_b.JPG -> photos/taken-2.jpg",
    ])  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "{nme}"], 'invalid --to: template "{nme}", at character 1: no field or capture '
         'group named "nme" in the match regex'),
        (["--to", "a{n:3}"], "invalid --to: template \"a{n:3}\", at character 5: the counter's "
         'format is 0 and a width (n:03), not "3"'),
        (["--to", "x{stem|lowr}"], 'invalid --to: template "x{stem|lowr}", at character 8: '
         'unknown filter "lowr" (lower, upper, title, slug, replace:FROM:TO)'),
        (["-m", "(", "--to", "x"], "invalid pattern: regex parse error:"),
        (["--to", "x", "--on-conflict", "replace"], "invalid --on-conflict: Input should be"),
    ],
)  # fmt: skip
def test_bad_templates_and_options_exit_2(
    vegafs: Vegafs, photos: Path, args: list[str], message: str
) -> None:
    code, lines, err = plan(vegafs, photos, *args)
    assert (code, lines) == (2, [])
    assert err.startswith(f"vegafs: error: {message}"), err


def test_a_name_that_is_not_utf8(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    root.mkdir()
    fd = os.open(os.fsencode(root) + b"/caf\xe9.TXT", os.O_WRONLY | os.O_CREAT, 0o644)
    os.close(fd)
    buf = ops.RowBuffer()
    summary = ops.run("rename", {"selection": {"roots": [str(root)]}, "to": "{name|lower}"},
                      ops.RunContext(rows=buf))  # fmt: skip
    assert summary.model_dump()["moves"] == 1
    # The byte that is not UTF-8 is kept; the rest is lower-cased.
    assert [os.fsencode(r["to"]) for r in buf.rows] == [os.fsencode(root) + b"/caf\xe9.txt"]


def test_a_rename_plan_as_a_job(stack: Stack, service_root: Path) -> None:
    args = ["rename", str(service_root), "-m", r"\.(txt|log)$", "--to", "{stem|upper}.{ext}"]
    local = ok(run(None, *args, "--json"))
    remote = run(stack, *args, "--json", "--submit", "--wait")
    assert remote.returncode == 0, remote.stderr
    assert sorted(remote.stdout.splitlines()) == sorted(local.splitlines())
    assert sorted(json.loads(line)["to"] for line in local.splitlines()) == [
        str(service_root / "THREE.log"),
        str(service_root / "a" / "ONE.txt"),
    ]
    applied = run(stack, *args, "--apply", "--submit", "--wait")
    assert applied.returncode == 0, applied.stderr
    assert sorted(p.name for p in service_root.rglob("*") if p.is_file()) == [
        "ONE.txt", "THREE.log", "two.bin"
    ]  # fmt: skip
    assert "at character 2" in refused(run(stack, "rename", str(service_root), "--to", "x{",
                                           "--submit"))  # fmt: skip
