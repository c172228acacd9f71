"""``vegafs hash``'s presenter: checksum lines (``vegafs.cli.checksums``) printed as they come,
or written to a manifest file whole at the end.
"""

import os
import sys
import tempfile
from pathlib import Path
from typing import IO, Annotated, Any, ClassVar

import typer

from vegafs import ops
from vegafs.cli import exits
from vegafs.cli.checksums import lines_for
from vegafs.cli.commands import OPTIONS_PANEL, Param
from vegafs.cli.output import report_errors, write_bytes
from vegafs.cli.present import JSON_ROWS_HELP, RowLines
from vegafs.cli.values import show_path


class ManifestLines(RowLines):
    """A checksum line per file as it is hashed (on stdout, or into ``--manifest FILE``), or
    its JSON with ``--json``; at the end, the files that could not be read on stderr."""

    params: ClassVar[list[Param]] = [
        Param("o_json", Annotated[bool, typer.Option("--json", help=JSON_ROWS_HELP,
              rich_help_panel=OPTIONS_PANEL)], False),
        Param("o_manifest", Annotated[str | None, typer.Option("--manifest", metavar="FILE",
              show_default=False, help="Write the lines to FILE (a new file: an existing one "
              "is never replaced), not to stdout; written whole at the end or not at all.",
              rich_help_panel=OPTIONS_PANEL)], None),
    ]  # fmt: skip

    def __init__(self, op: ops.Operation, values: dict[str, Any]) -> None:
        super().__init__(op, values)
        self.algorithm = values.get("p_algo") or op.params.model_fields["algo"].default
        given = values.get("o_manifest")
        self.manifest = None if given is None else Path(given)
        self.spool: IO[bytes] | None = None
        self.written = 0

    def check(self, *, submit: bool, wait: bool) -> None:
        if self.manifest is None:
            return
        if self.as_json:
            exits.fail("choose one of --json and --manifest", exits.USAGE)
        if submit and not wait:
            exits.fail("--manifest with --submit needs --wait", exits.USAGE)
        if self.manifest.is_symlink() or self.manifest.exists():
            exits.fail(f"{show_path(str(self.manifest))}: exists (not replaced)", exits.USAGE)
        if not self.manifest.parent.is_dir():
            exits.fail(f"{show_path(str(self.manifest.parent))}: no such directory", exits.USAGE)
        # Lines wait in an unnamed file outside the tree: nothing half-written is ever walked.
        self.spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed with the process)

    @property
    def progress_line(self) -> bool:
        return self.manifest is not None or not sys.stdout.isatty()

    def rows(self, batch: ops.Rows) -> None:
        if self.as_json:
            super().rows(batch)
            return
        data = lines_for(self.algorithm, batch)
        self.written += len(batch)
        if self.spool is not None:
            self.spool.write(data)
            return
        write_bytes(data)

    def finish(self, summary: dict[str, Any]) -> None:
        if self.spool is not None and self.manifest is not None:
            self._write_manifest(self.spool, self.manifest)
        report_errors(summary)

    def _write_manifest(self, lines: IO[bytes], path: Path) -> None:
        """``path`` holds every line, or is not created: a temporary file beside it, flushed to
        disk, then linked to its name, which fails rather than replace a file made meanwhile."""
        lines.seek(0)
        fd, name = tempfile.mkstemp(prefix=".vegafs-manifest-", dir=path.parent)
        temp = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := lines.read(1 << 20):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            temp.chmod(0o666 & ~_umask())
            path.hardlink_to(temp)
        except FileExistsError:
            exits.fail(f"{show_path(str(path))}: created meanwhile (not replaced)", exits.USAGE)
        except OSError as e:
            exits.fail(f"{show_path(str(path))}: {e.strerror or e}", exits.USAGE)
        finally:
            temp.unlink()
        shown = show_path(str(path))
        print(f"vegafs: {self.written:,} digests written to {shown}", file=sys.stderr)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
