"""`vegafs copy` (planning): paths kept below DEST or made by --to, directories to create,
copies already made skipped, conflicts refused with their reason, nothing on disk changed; the
same plan as a job."""

import json
import os
from pathlib import Path

import pytest

from conftest import Vegafs
from stack import Stack
from test_cli_jobs import ok, run
from vegafs import engine, ops
from vegafs.engine.copying import digests


def snapshot(root: Path) -> list[tuple[str, bytes]]:
    """Every path below `root` with its content (directories: b"/", symlinks: their text,
    FIFOs: b"|", never opened), sorted."""
    return sorted(
        (str(p), os.fsencode(p.readlink()) if p.is_symlink() else b"/" if p.is_dir()
         else b"|" if p.is_fifo() else p.read_bytes())
        for p in root.rglob("*")
    )  # fmt: skip


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """src/{a.txt (5 B), link -> a.txt, sub/b.txt (3 B)}, one.txt (1 B) beside it."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("hello")
    (src / "sub" / "b.txt").write_text("abc")
    (src / "link").symlink_to("a.txt")
    (tmp_path / "one.txt").write_text("1")
    for p in [src / "a.txt", src / "sub" / "b.txt", tmp_path / "one.txt"]:
        os.utime(p, (1_700_000_000, 1_700_000_000))
    return tmp_path


def plan(vegafs: Vegafs, work: Path, *args: str) -> tuple[int, list[str], str]:
    before = snapshot(work)
    out = vegafs.run("copy", *args, cwd=work)
    assert snapshot(work) == before  # a plan never changes the tree
    return out.returncode, out.stdout.decode("utf-8", "surrogateescape").splitlines(), out.stderr


def test_a_directory_is_copied_below_dest_and_a_file_into_it(vegafs: Vegafs, work: Path) -> None:
    code, lines, err = plan(vegafs, work, "src", "one.txt", "out/new")
    assert code == 0, err
    assert lines == [
        "out/ (new directory)",
        "out/new/ (new directory)",
        "out/new/sub/ (new directory)",
        "one.txt -> out/new/one.txt",
        "src/a.txt -> out/new/a.txt",
        "src/link -> out/new/link",
        "src/sub/b.txt -> out/new/sub/b.txt",
    ]
    assert err == (
        "vegafs: plan: 4 to copy (9 bytes), 0 already copied, 0 refused, 3 directories to "
        "create; may be applied. Nothing was changed.\n"
    )


def test_a_template_makes_the_paths(vegafs: Vegafs, work: Path) -> None:
    (work / "out").mkdir()
    code, lines, err = plan(vegafs, work, "src", "out", "-t", "f", "--to", "{n:02}/{name|upper}")
    assert code == 0, err
    assert lines == [
        "out/01/ (new directory)",
        "out/02/ (new directory)",
        "src/a.txt -> out/01/A.TXT",
        "src/sub/b.txt -> out/02/B.TXT",
    ]


def test_a_refused_plan_shows_the_directories_its_copies_need(vegafs: Vegafs, work: Path) -> None:
    """A FIFO refuses the plan (--on-conflict fail): the preview still lists the directories
    and counts them, as the same plan with skip does (it said 0 and listed none)."""
    os.mkfifo(work / "src" / "fifo")
    code, lines, err = plan(vegafs, work, "src", "out")
    assert code == 1
    assert lines == [
        "out/ (new directory)",
        "out/sub/ (new directory)",
        "src/a.txt -> out/a.txt",
        "src/fifo -> out/fifo: refused, a special file (FIFO, socket or device) is not copied",
        "src/link -> out/link",
        "src/sub/b.txt -> out/sub/b.txt",
    ]
    assert err.endswith(
        "3 to copy (8 bytes), 0 already copied, 1 refused, 2 directories to create; refused: "
        "see the reasons above. Nothing was changed.\n"
    )
    code, skipped, err = plan(vegafs, work, "src", "out", "--on-conflict", "skip")
    assert (code, skipped) == (0, lines)
    assert "1 refused, left out, 2 directories to create; may be applied." in err


def test_copies_already_made_are_skipped(vegafs: Vegafs, work: Path) -> None:
    dest = work / "out"
    (dest / "sub").mkdir(parents=True)
    (dest / "a.txt").write_text("hello")  # same size and mtime: a copy
    os.utime(dest / "a.txt", (1_700_000_000, 1_700_000_000))
    (dest / "link").symlink_to("a.txt")
    (dest / "sub" / "b.txt").write_text("abc")  # another mtime: in the way
    code, lines, err = plan(vegafs, work, "src", "out")
    assert code == 1
    assert lines == [
        "src/a.txt -> out/a.txt (already copied)",
        "src/link -> out/link (already copied)",
        "src/sub/b.txt -> out/sub/b.txt: refused, the target exists",
    ]
    assert err.endswith(
        "0 to copy (0 bytes), 2 already copied, 1 refused, 0 directories to create; refused: "
        "see the reasons above. Nothing was changed.\n"
    )
    code, lines, _ = plan(vegafs, work, "src", "out", "--on-conflict", "suffix")
    assert (code, lines[-1]) == (0, "src/sub/b.txt -> out/sub/b-1.txt")
    code, lines, err = plan(vegafs, work, "src", "out", "--on-conflict", "skip")
    assert code == 0 and "1 refused, left out, 0 directories" in err


def test_a_dest_inside_its_source_is_not_copied_into_itself(vegafs: Vegafs, work: Path) -> None:
    """`cp -a` refuses it; vegafs leaves DEST out of the walk, so a second copy finds the first
    already made instead of copying the copies one level deeper. Through a symlink to DEST too:
    DEST is known by its inode."""
    out = vegafs.run("copy", "src", "src/backup", "--apply", cwd=work)
    assert out.returncode == 0, out.stderr
    for dest in ["src/backup", "src/../src/backup/", "to-backup"]:
        (work / "to-backup").unlink(missing_ok=True)
        (work / "to-backup").symlink_to("src/backup")
        code, lines, err = plan(vegafs, work, "src", dest)
        shown = dest.rstrip("/")
        assert code == 0, err
        assert lines == [
            f"src/a.txt -> {shown}/a.txt (already copied)",
            f"src/link -> {shown}/link (already copied)",
            f"src/sub/b.txt -> {shown}/sub/b.txt (already copied)",
        ]
    assert sorted(p.relative_to(work).as_posix() for p in (work / "src").rglob("*")) == [
        "src/a.txt", "src/backup", "src/backup/a.txt", "src/backup/link", "src/backup/sub",
        "src/backup/sub/b.txt", "src/link", "src/sub", "src/sub/b.txt",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("../{name}", "the target would leave DEST (an absolute path, '..', or a symlinked "
         "directory)"),
        ("/tmp/{name}", "the target would leave DEST (an absolute path, '..', or a symlinked "
         "directory)"),
        ("a//{name}", "invalid name (empty, '.', '..', or a '/' or NUL in it)"),
        ("same.txt", "several entries onto this target"),
        ("{name}" + "x" * 255, "name longer than 255 bytes"),
    ],
)  # fmt: skip
def test_targets_are_refused_with_their_reason(
    vegafs: Vegafs, work: Path, template: str, reason: str
) -> None:
    code, lines, err = plan(vegafs, work, "src", "out", "-t", "f", "--to", template)
    assert code == 1, (lines, err)
    assert lines and all(line.endswith(f": refused, {reason}") for line in lines), lines


NFC, NFD = "caf\u00e9", "cafe\u0301"  # the same name, composed and decomposed
TWIN = "refused, the target differs from another name only by Unicode normalisation"


def test_unicode_twins_are_refused_against_names_on_disk_and_other_targets(
    vegafs: Vegafs, tmp_path: Path
) -> None:
    for d, name in [("a", "0\u00fc.txt"), ("a", f"{NFC}.txt"), ("b", f"{NFC}.txt"),
                    ("c", f"{NFD}-1.txt"), ("c", f"{NFD}.md"), ("d", f"{NFC}.md")]:  # fmt: skip
        (tmp_path / d).mkdir(exist_ok=True)
        (tmp_path / d / name).write_text(d)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / f"{NFD}.log").write_text("on disk")
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / f"{NFC}.log").write_text("e")
    (tmp_path / "out" / "\u212a.bin").write_text("KELVIN SIGN: its NFC form is K")
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "K.bin").write_text("f")
    # Flattened into out/: a/ and b/ claim café.txt (b's then takes café-1.txt, composed, once
    # the first name that is not ASCII has indexed out/); c/'s decomposed café-1.txt is its
    # twin; c/'s café.md and d/'s are twins of each other; e/'s café.log, of a name on disk, and
    # f/'s K.bin of one spelled with the KELVIN SIGN.
    code, lines, _ = plan(vegafs, tmp_path, "a", "b", "c", "d", "e", "f", "out", "--to", "{name}",
                          "--on-conflict", "suffix")  # fmt: skip
    assert code == 0
    assert lines == [
        "a/0\u00fc.txt -> out/0\u00fc.txt",
        f"a/{NFC}.txt -> out/{NFC}.txt",
        f"b/{NFC}.txt -> out/{NFC}-1.txt",
        f"c/{NFD}-1.txt -> out/{NFD}-1.txt: {TWIN}",
        f"c/{NFD}.md -> out/{NFD}.md: {TWIN}",
        f"d/{NFC}.md -> out/{NFC}.md: {TWIN}",
        f"e/{NFC}.log -> out/{NFC}.log: {TWIN}",
        f"f/K.bin -> out/K.bin: {TWIN}",  # ASCII, and still a twin
    ]


def test_a_dest_that_is_a_file_refuses_every_copy(vegafs: Vegafs, work: Path) -> None:
    (work / "taken").write_text("a file")
    code, lines, err = plan(vegafs, work, "src", "taken")
    assert code == 1, err
    reason = "refused, taken is not a directory"
    assert lines == [
        f"src/a.txt -> taken/a.txt: {reason}",
        f"src/link -> taken/link: {reason}",
        f"src/sub/b.txt -> taken/sub/b.txt: {reason}",
    ]


def test_a_symlinked_directory_in_dest_is_not_followed(vegafs: Vegafs, work: Path) -> None:
    (work / "out").mkdir()
    (work / "elsewhere").mkdir()
    (work / "out" / "sub").symlink_to(work / "elsewhere")
    code, lines, _ = plan(vegafs, work, "src", "out", "-t", "f")
    assert code == 1
    assert "src/sub/b.txt -> out/sub/b.txt: refused, the target would leave DEST" in lines[-1]


def test_usage_errors_exit_2(vegafs: Vegafs, work: Path) -> None:
    code, lines, err = plan(vegafs, work, "src")
    assert (code, lines) == (2, [])
    assert err.startswith("vegafs: error: missing DEST: the paths to walk, then the directory")
    code, lines, err = plan(vegafs, work, "src", "out", "--to", "x{stem|lowr}")
    assert code == 2
    assert err.startswith('vegafs: error: invalid --to: template "x{stem|lowr}", at character 8')
    # DEST as an option: every PATH is a source.
    code, lines, _ = plan(vegafs, work, "one.txt", "--dest", "out")
    assert (code, lines) == (0, ["out/ (new directory)", "one.txt -> out/one.txt"])


def test_the_plan_from_python(work: Path) -> None:
    rows, dirs, summary = engine.plan_copy(work / "src", engine.CopyOptions(dest=work / "o"))
    assert dirs == [str(work / "o"), str(work / "o" / "sub")]
    assert [engine.CopyRow.model_validate(r).action for r in rows] == ["copy"] * 3
    assert (summary.copies, summary.bytes, summary.dirs, summary.ok) == (3, 8, 2, True)
    buf = ops.RowBuffer()
    ops.run("copy", {"selection": {"roots": [str(work / "src")]}, "dest": str(work / "o")},
            ops.RunContext(rows=buf))  # fmt: skip
    assert [r["action"] for r in buf.rows] == ["mkdir", "mkdir", "copy", "copy", "copy"]


def test_a_copy_plan_as_a_job(stack: Stack, service_root: Path) -> None:
    dest = service_root / "copied"
    args = ["copy", str(service_root / "a"), str(dest)]
    local = ok(run(None, *args, "--json"))
    remote = run(stack, *args, "--json", "--submit", "--wait")
    assert remote.returncode == 0, remote.stderr
    assert sorted(remote.stdout.splitlines()) == sorted(local.splitlines())
    assert json.loads(local.splitlines()[0])["to"] == str(dest)


def test_hash_templates_read_beneath_a_jobs_roots_and_follow_no_symlink(tmp_path: Path) -> None:
    """`{hash}` in a job's plan (copy, rename) reads each file beneath the roots; a symlink
    leading out of them is not followed: it gets no digest, as on the command line."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "src").mkdir(parents=True)
    outside.mkdir()
    (root / "src" / "f").write_text("inside")
    (outside / "secret").write_text("outside")
    (root / "src" / "out").symlink_to(outside / "secret")
    [digest] = digests([str(root / "src" / "f")])
    assert digest is not None
    copied, renamed = ops.RowBuffer(), ops.RowBuffer()
    params = {"selection": {"roots": [str(root / "src")]}, "dest": str(root / "d"),
              "to": "{name}-{hash:8}"}  # fmt: skip
    ops.run("copy", params, ops.RunContext(rows=copied, beneath=(root,)))
    assert sorted((r["from"], r["to"]) for r in copied.rows if r["action"] == "copy") == [
        (str(root / "src" / "f"), str(root / "d" / f"f-{digest.hex()[:8]}")),
        (str(root / "src" / "out"), str(root / "d" / "out-")),
    ]  # fmt: skip
    params = {"selection": {"roots": [str(root / "src")]}, "to": "{name}.{hash:8}"}
    ops.run("rename", params, ops.RunContext(rows=renamed, beneath=(root,)))
    assert sorted((r["from"], r["to"]) for r in renamed.rows) == [
        (str(root / "src" / "f"), str(root / "src" / f"f.{digest.hex()[:8]}")),
        (str(root / "src" / "out"), str(root / "src" / "out.")),
    ]  # fmt: skip
    assert (outside / "secret").read_text() == "outside"
    assert sorted(p.name for p in (root / "src").iterdir()) == ["f", "out"]  # a plan only
