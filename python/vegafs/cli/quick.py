"""The quick path: ``vegafs analyze ... --json``, ``vegafs list ...``, ``vegafs hash ...``,
``vegafs dupes ...``, ``vegafs search ...`` and ``vegafs replace ...`` (its plan, or applied
through the journal) run here without typer, click, pydantic or SQLAlchemy.

Importing those and building the params models costs a process about 150 ms, more than the walk
of a tree of 100,000 files. For a command line it can run, ``vegafs`` reads the arguments with a
table generated from the commands themselves (``quick_options.json``, written by ``make docs``
and checked by a test), checks the values as the params models would, calls the core and prints
what the full command prints, byte for byte (tests compare the two). For anything else it steps
aside before doing any work and the full command runs, with its messages: ``--help``,
``--submit``, analyze's text report and ``--csv``, an option or a spelling it does not know
(``-xL``, ``-n5``), a value the models might judge otherwise (``--top -1``). ``VEGAFS_QUICK=0``
turns it off.
"""

import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from vegafs.cli import exits
from vegafs.cli.output import (
    exit_if_unreadable,
    report_errors,
    write,
    write_bytes,
    write_json_rows,
    write_shown,
)
from vegafs.cli.selection_options import BY_FIELD
from vegafs.cli.values import parse_time
from vegafs.engine import Progress, RowStream, plain

TABLE = Path(__file__).with_name("quick_options.json")


class Unsure(Exception):
    """The quick path cannot run this command line: the full command will."""


def run(argv: list[str]) -> None:
    """Run ``vegafs ARGV`` here and exit, if the quick path can; otherwise return, having done
    nothing."""
    if os.environ.get("VEGAFS_QUICK") == "0" or not argv or argv[0] not in RUNNERS:
        return
    try:
        with TABLE.open() as f:
            table = json.load(f)
    except (OSError, ValueError):
        return  # not installed with the package: the full command still works
    try:
        command = table["operations"][argv[0]]
        given = read_arguments(command["options"], argv[1:])
        positional = command.get("positional")
        if command.get("more_positionals"):  # replace's PATTERN REPLACEMENT
            # As the full command: the arguments fill, in order, the fields whose option was
            # not given; those left over are the first PATHs.
            for name in [positional, *command["more_positionals"]]:
                if name not in given:
                    if not given["paths"]:
                        raise Unsure(name)
                    given[name] = given["paths"].pop(0)
        elif positional and not given.get(positional) and given["paths"]:
            given[positional] = [given["paths"].pop(0)]  # PATTERN, unless -e gave one
        values = typed_values(command, table["selection_defaults"], given)
        run_it = RUNNERS[argv[0]](values)
    except Unsure:
        return
    run_it()


def read_arguments(options: dict[str, list[str]], args: list[str]) -> dict[str, Any]:
    """The command line as click reads it: option key -> text (a list for repeatable options,
    True/False for switches), ``paths`` -> the PATH arguments."""
    given: dict[str, Any] = {}
    paths: list[str] = []
    i, only_paths = 0, False
    while i < len(args):
        arg = args[i]
        i += 1
        if only_paths or arg == "-" or not arg.startswith("-"):
            paths.append(arg)
            continue
        if arg == "--":
            only_paths = True
            continue
        flag, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if flag not in options:
            raise Unsure(flag)
        key, kind = options[flag]
        if kind in ("switch", "off"):
            if eq:
                raise Unsure(arg)
            given[key] = kind == "switch"
            continue
        if eq:
            text = inline
        elif i < len(args) and not args[i].startswith("-"):
            text = args[i]
            i += 1
        else:
            raise Unsure(arg)  # a value that is missing or looks like an option
        if kind == "many":
            given.setdefault(key, []).append(text)
        else:
            given[key] = text
    given["paths"] = paths
    return given


def typed_values(
    command: dict[str, Any], selection_defaults: dict[str, Any], given: dict[str, Any]
) -> dict[str, Any]:
    """What was typed as the params' values: ``selection`` (every field, the model's defaults
    for those not given), every params field (its default when not given), and the other
    options (``options``: ``o_json``...)."""
    fields = command["values"]
    now = None
    if given.get("p_now") is not None:  # relative ages count back from --now
        now = _typed(fields["p_now"], given["p_now"], None)
    selection = dict(selection_defaults)
    selection["roots"] = [Path(p) for p in given.pop("paths")]  # as click gives them
    if not selection["roots"]:
        raise Unsure("PATH")
    out: dict[str, Any] = {**command["defaults"], "selection": selection, "options": {}}
    for key, text in given.items():
        spec = fields[key]
        value = _typed(spec, text, now)
        target = spec.get("field")
        if target is None:
            out["options"][key] = value
        elif target.startswith("selection."):
            selection[target.removeprefix("selection.")] = value
        else:
            out[target] = value
    return out


def _typed(spec: dict[str, Any], text: Any, now: float | None) -> Any:
    kind = spec["parse"]
    if isinstance(text, bool) or kind in ("str", "strs"):
        return text
    try:
        if kind == "selection":
            flag = BY_FIELD[spec["field"].removeprefix("selection.")]
            if flag.parse is None:
                return text
            if isinstance(text, list):
                parsed = [flag.parse(t, now) for t in text]
                return [v for p in parsed for v in (p if isinstance(p, list) else [p])]
            value = flag.parse(text, now)
            if hasattr(value, "timestamp"):
                return _timestamp(value)
        elif kind == "int":
            value = int(text)
        elif kind == "time":
            return _timestamp(parse_time(text, now))
        elif kind == "choice" and text in spec["choices"]:
            return text
        else:
            raise Unsure(kind)
    except (ValueError, OverflowError, OSError):
        raise Unsure(text) from None
    if isinstance(value, int) and not spec.get("min", value) <= value <= spec.get("max", value):
        raise Unsure(text)
    return value


def _timestamp(t: Any) -> float:
    try:
        return float(t.timestamp())
    except (OverflowError, ValueError, OSError):
        raise Unsure(t) from None


def _recorded_time(t: float | None) -> str | None:
    """Seconds since the epoch as the params models record a time: ISO 8601, UTC, ``Z``."""
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _plain_run(values: dict[str, Any]) -> None:
    """Refuse what only the full command does: a job on a server."""
    options = values["options"]
    if any(options.get(k) for k in ("j_submit", "j_wait", "j_fresh", "j_shards")):
        raise Unsure("--submit")


# ---- the operations ----------------------------------------------------------------------------


def analyze(values: dict[str, Any]) -> Callable[[], NoReturn]:
    """``vegafs analyze PATH... --json``: one JSON object, as ``AnalyzeReport`` prints it."""
    _plain_run(values)
    options = values["options"]
    if not options.get("o_json") or options.get("o_csv"):
        raise Unsure("the report")  # the text report draws with rich, after pydantic
    selection = values["selection"]
    top, max_errors, now = values["top"], values["max_errors"], values["now"]

    def run_it() -> NoReturn:
        from vegafs.cli.progress import ProgressLine

        progress = Progress()
        now_s = int(time.time() if now is None else now)
        with exits.local_run_errors(), ProgressLine(progress):
            fields = plain.analyze(
                selection, top=top, max_errors=max_errors, now=now_s, progress=progress
            )
        # ASCII: a name that is not UTF-8 appears as \udcXX (Python's surrogateescape).
        write(json.dumps(fields, separators=(",", ":")) + "\n")
        exit_if_unreadable(fields["error_count"])
        raise SystemExit(exits.OK)

    return run_it


def list_entries(values: dict[str, Any]) -> Callable[[], NoReturn]:
    """``vegafs list PATH...``: a path per line, or a JSON object per row with ``--json``."""
    _plain_run(values)
    selection, max_errors = values["selection"], values["max_errors"]

    def paths(batch: list[dict[str, Any]]) -> None:
        write_shown(str(row["path"]) for row in batch)

    def start(progress: Progress) -> RowStream:
        return plain.list_entries(selection, max_errors=max_errors, progress=progress)

    show = write_json_rows if values["options"].get("o_json") else paths
    return lambda: _print_rows(start, show)


def hash_files(values: dict[str, Any]) -> Callable[[], NoReturn]:
    """``vegafs hash PATH...``: a checksum line per file, or a JSON object with ``--json``."""
    _plain_run(values)
    if values["options"].get("o_manifest") is not None:
        raise Unsure("--manifest")  # the full command writes manifests
    selection, algo, max_errors = values["selection"], values["algo"], values["max_errors"]

    def checksums(batch: list[dict[str, Any]]) -> None:
        from vegafs.cli.checksums import lines_for

        write_bytes(lines_for(algo, batch))

    def start(progress: Progress) -> RowStream:
        return plain.hash_files(selection, algorithm=algo, max_errors=max_errors, progress=progress)

    show = write_json_rows if values["options"].get("o_json") else checksums
    return lambda: _print_rows(start, show)


def _print_rows(
    start: Callable[[Progress], RowStream],
    show: Callable[[list[dict[str, Any]]], None],
    end: Callable[[Any], None] | None = None,
) -> NoReturn:
    """Rows as ``RowLines`` shows them: each batch as it comes, then ``end(summary)`` if given,
    the errors on stderr and exit 1 if any entry could not be read."""
    from vegafs.cli.progress import ProgressLine

    progress = Progress()
    with exits.local_run_errors(), ProgressLine(progress, enabled=not sys.stdout.isatty()):
        stream = start(progress)
        try:
            for batch in stream:
                show(batch)
        finally:
            stream.close()
        summary = stream.summary()
    if end is not None:
        end(summary)
    report_errors({"errors": plain.error_dicts(summary.errors), "error_count": summary.error_count})
    raise SystemExit(exits.OK)


def dupes(values: dict[str, Any]) -> Callable[[], NoReturn]:
    """``vegafs dupes PATH...``: paragraphs and totals, or a JSON object per group with
    ``--json``, as ``DupeGroups`` prints them."""
    _plain_run(values)
    selection, max_errors = values["selection"], values["max_errors"]

    def groups(batch: list[dict[str, Any]]) -> None:
        from vegafs.cli.dupes_text import group_paragraphs

        if batch:
            write(group_paragraphs(batch))

    def totals(s: Any) -> None:
        from vegafs.cli.dupes_text import totals_line

        write(totals_line(s.duplicate_groups, s.duplicate_files, s.reclaimable_bytes))

    def start(progress: Progress) -> RowStream:
        return plain.find_dupes(selection, max_errors=max_errors, progress=progress)

    if values["options"].get("o_json"):
        return lambda: _print_rows(start, write_json_rows)
    return lambda: _print_rows(start, groups, totals)


def search(values: dict[str, Any]) -> Callable[[], NoReturn]:
    """``vegafs search PATTERN PATH...``: the lines the core formats (or a JSON object per row
    with ``--json``), the errors, and rg's exit codes, as ``SearchLines`` does."""
    _plain_run(values)
    modes = [values["count"], values["files_with_matches"], values["files_without_match"]]
    if sum(modes) > 1:
        raise Unsure("modes")  # the full command says which options do not go together
    around = values["context"] or 0
    before, after = values["before_context"], values["after_context"]
    mode = ("count", "files_with_matches", "files_without_match", "lines")[
        modes.index(True) if True in modes else 3
    ]
    options = {
        **{k: values[k] for k in ("patterns", "fixed_strings", "ignore_case", "smart_case",
                                  "word_regexp", "line_regexp", "multiline", "max_count",
                                  "only_matching", "binary", "max_errors")},
        "before_context": around if before is None else before,
        "after_context": around if after is None else after,
        "mode": mode,
    }  # fmt: skip
    text = not values["options"].get("o_json")
    selection = values["selection"]

    def run_it() -> NoReturn:
        from vegafs.cli.output import print_errors
        from vegafs.cli.progress import ProgressLine

        progress = Progress()
        with exits.local_run_errors(), ProgressLine(progress, enabled=not sys.stdout.isatty()):
            stream = plain.search(selection, options, text=text, progress=progress)
            try:
                for batch in stream:
                    if text:
                        write_bytes(b"".join(batch))
                    else:
                        write_json_rows(batch)
            finally:
                stream.close()
            s = stream.summary()
        errors = plain.error_dicts(s.errors)
        print_errors(errors)
        if s.error_count > len(errors):
            print(f"vegafs: {s.error_count:,} entries could not be read", file=sys.stderr)
        found = s.files_without_match if mode == "files_without_match" else s.matched_lines
        raise SystemExit(exits.USAGE if s.error_count else exits.OK if found else 1)

    return run_it


def validate(values: dict[str, Any]) -> Callable[[], NoReturn]:
    """``vegafs validate PATH...``: a line per failure, or a JSON object per row with
    ``--json``, and the exit code, as ``ValidateLines`` prints them."""
    _plain_run(values)
    as_json = bool(values["options"].get("o_json"))

    def run_it() -> NoReturn:
        from vegafs.cli.progress import ProgressLine
        from vegafs.cli.validate_text import finish, write_lines

        progress = Progress()
        with exits.local_run_errors(), ProgressLine(progress, enabled=not sys.stdout.isatty()):
            stream = plain.validate_files(
                values["selection"],
                format=values["format"],
                header=values["header"],
                schema=values["schema_file"],
                max_errors=values["max_errors"],
                progress=progress,
            )
            try:
                for batch in stream:
                    (write_json_rows if as_json else write_lines)(batch)
            finally:
                stream.close()
            s = stream.summary()
        summary = {
            "errors": plain.error_dicts(s.errors),
            "error_count": s.error_count,
            "failed": s.failed,
            "files": s.files,
        }
        raise SystemExit(finish(summary, as_json=as_json))

    return run_it


def replace(values: dict[str, Any]) -> Callable[[], NoReturn]:
    """``vegafs replace PATTERN REPLACEMENT PATH... [--apply]``: the plan's diffs, then its
    summary line, as ``ReplacePlan`` prints them; with ``--apply``, applied through the
    journal as ``vegafs.ops.replace`` applies it (recovery first, the plan made meanwhile)."""
    _plain_run(values)
    if values["options"].get("o_json"):
        raise Unsure("--json")  # the rows as the models make them
    options = {k: values[k] for k in ("pattern", "replacement", "fixed_strings", "ignore_case",
                                      "word_regexp")}  # fmt: skip
    selection, max_errors = values["selection"], values["max_errors"]

    def run_it() -> NoReturn:
        from vegafs import _native
        from vegafs.cli.progress import ProgressLine
        from vegafs.cli.replace_lines import plan_text, summary_line

        progress, cancel = Progress(), _native.CancelToken()
        native = plain.native_selection(**selection)

        def plan() -> tuple[list[dict[str, Any]], dict[str, Any]]:
            return plain.plan_replace(
                native, options, max_errors=max_errors, progress=progress, cancel=cancel
            )

        def show(planned: list[dict[str, Any]]) -> None:
            for i in range(0, len(planned), 256):
                write_bytes(b"".join(plan_text(row) for row in planned[i : i + 256]))

        with exits.local_run_errors(), ProgressLine(progress, enabled=not sys.stdout.isatty()):
            if not values["apply"]:
                planned, summary = plan()
                show(planned)
            else:
                from vegafs.journal import applying_planned
                from vegafs.journal.replacing import apply_replace

                # Recorded as the params model records them (a time as pydantic writes a UTC
                # datetime in JSON).
                times = {k: _recorded_time(selection[k]) for k in ("newer_than", "older_than")}
                params = {"selection": {**selection, **times,
                                        "roots": [str(r) for r in native["roots"]]},
                          **options, "apply": True, "max_errors": max_errors}  # fmt: skip
                with applying_planned(None, cancel, plan) as (journal, (planned, summary)):
                    show(planned)
                    if summary["files_changed"]:
                        summary["applied_op"] = apply_replace(
                            journal, params, {**options, "max_errors": 0}, planned, cancel
                        )
        print(summary_line(summary), file=sys.stderr)
        report_errors(summary)
        raise SystemExit(exits.OK)

    return run_it


# Operation -> what prepares its run from the typed values (raising Unsure when it cannot).
RUNNERS: dict[str, Callable[[dict[str, Any]], Callable[[], NoReturn]]] = {
    "analyze": analyze,
    "dupes": dupes,
    "hash": hash_files,
    "list": list_entries,
    "replace": replace,
    "search": search,
    "validate": validate,
}
