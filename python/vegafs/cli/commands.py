"""Commands made from operation declarations.

For each operation (``vegafs.ops``) this module makes ``vegafs OP PATH... [options]``, which runs
it here or, with ``--submit``, as a job on a server, and ``vegafs jobs submit OP``. The options
come from the operation's params model (one per field but ``selection``), the Selection's table
(``selection_options``), the output options of its presenter (``present``) and the server's.
Errors name what the user typed: ``--min-size``, ``-L``, ``PATH``.
"""

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from vegafs import ops
from vegafs.cli import exits
from vegafs.cli.client import DEFAULT_SERVER
from vegafs.cli.client import PANEL as SERVER_PANEL
from vegafs.cli.selection_options import PANEL as SELECTION_PANEL
from vegafs.cli.selection_options import SELECTION_OPTIONS, selection_flag
from vegafs.cli.values import parse_time

OPTIONS_PANEL = "Options"
JOB_PANEL = "Job"
PATHS_HELP = "Directories or files to walk."


@dataclass(frozen=True)
class Param:
    """One option of a generated command: the Python parameter typer reads (``key``, its
    annotated type and default), the field its value fills (a dotted path such as
    ``selection.min_size``; None: not a params field), how its text is read, and the flag as the
    user knows it, for messages."""

    key: str
    annotation: Any
    default: Any
    field: str | None = None
    parse: Callable[[str, float | None], Any] | None = None
    flag: str | None = None


# ---- the options of an operation ----------------------------------------------------------------


def paths_param() -> Param:
    argument = typer.Argument(help=PATHS_HELP, metavar="PATH", show_default=False, readable=False)
    # Not required for click: a missing PATH is reported by `require_paths`, naming it first.
    return Param("paths", Annotated[list[Path] | None, argument], None, "selection.roots",
                 flag="PATH")  # fmt: skip


def walks(op: ops.Operation) -> bool:
    """Whether the operation walks a Selection (PATH... and the Selection's options); one
    that does not (verify) takes its positional field as its one argument."""
    return "selection" in op.params.model_fields


def positional_param(op: ops.Operation) -> list[Param]:
    """The argument before PATH that fills ``op.positional`` (search's PATTERN), if any; see
    ``take_positional``. Its metavar is the field's name in the singular: patterns -> PATTERN."""
    if op.positional is None:
        return []
    metavar = op.positional.removesuffix("s").upper()
    argument = typer.Argument(help=op.params.model_fields[op.positional].description,
                              metavar=metavar, show_default=False)  # fmt: skip
    if not walks(op):  # the command's one argument: it fills its field itself
        key = f"p_{op.positional}"
        return [Param(key, Annotated[str | None, argument], None, op.positional, flag=metavar)]
    more = []
    for name in op.more_positionals:
        help_text = op.params.model_fields[name].description
        arg = typer.Argument(help=help_text, metavar=name.upper(), show_default=False)
        more.append(Param(f"a_{name}", Annotated[str | None, arg], None, flag=name.upper()))
    return [Param("a_positional", Annotated[str | None, argument], None, flag=metavar), *more]


def take_positional(ctx: typer.Context, op: ops.Operation, values: dict[str, Any]) -> None:
    """Puts the first argument where it belongs: in ``op.positional``'s list, or, when that
    field's option was given (``-e``), first among the PATHs, as grep and rg read it."""
    if op.positional is None:
        return
    key = f"p_{op.positional}"
    if not walks(op):  # the one argument, which fills its field (no option of its own)
        if values.get(key) is None:
            meaning = op.params.model_fields[op.positional].description or op.positional
            _missing(ctx, op.positional.upper(), _lower_first(meaning))
        return
    if op.more_positionals:
        _take_positionals(ctx, op, values)
        return
    argument = values.pop("a_positional", None)
    if values.get(key):
        if argument is not None:
            values["paths"] = [Path(argument), *(values.get("paths") or [])]
    elif argument is None:
        metavar = op.positional.removesuffix("s").upper()
        _missing(ctx, metavar, f"the {op.positional} to look for")
    else:
        values[key] = [argument]


def _take_positionals(ctx: typer.Context, op: ops.Operation, values: dict[str, Any]) -> None:
    """Several fields as arguments (replace's PATTERN REPLACEMENT): the arguments fill, in
    order, the fields whose option was not given; those left over are the first PATHs."""
    assert op.positional is not None
    names = [op.positional, *op.more_positionals]
    given = [values.pop("a_positional", None)]
    given += [values.pop(f"a_{name}", None) for name in op.more_positionals]
    arguments = [a for a in given if a is not None]
    for name in names:
        if values.get(f"p_{name}") is not None:
            continue
        if not arguments:
            meaning = op.params.model_fields[name].description or name
            _missing(ctx, name.upper(), _lower_first(meaning))
        first = arguments.pop(0)
        is_list = typing.get_origin(op.params.model_fields[name].annotation) is list
        values[f"p_{name}"] = [first] if is_list else first
    if arguments:
        values["paths"] = [*map(Path, arguments), *(values.get("paths") or [])]


def take_last_path(ctx: typer.Context, op: ops.Operation, values: dict[str, Any]) -> None:
    """Fills ``op.last_path`` (copy's DEST) with the last PATH, unless its option was given;
    exit 2 when no PATH would be left before it."""
    if op.last_path is None:
        return
    key = f"p_{op.last_path}"
    if values.get(key) is not None:
        return
    paths = values.get("paths") or []
    what = op.last_path.upper()
    if len(paths) < 2:
        meaning = op.params.model_fields[op.last_path].description or op.last_path
        _missing(ctx, what if paths else f"PATH and {what}",
                 f"the paths to walk, then {_lower_first(meaning)}")  # fmt: skip
    values[key] = str(paths[-1])
    values["paths"] = paths[:-1]


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:].rstrip(".")


def selection_params(op: ops.Operation | None = None) -> list[Param]:
    """The Selection's options. A short flag the operation declares for one of its own fields
    is the operation's (search's ``-x`` is ``--line-regexp``, as in grep and rg): the Selection's
    option of that letter keeps its long form only."""
    taken = set(op.short_flags.values()) if op is not None else set()
    out = []
    for f in SELECTION_OPTIONS:
        field = f"selection.{f.field}"
        flags = [flag for flag in f.flags if flag not in taken]
        if f.kind == "switch":
            default = _selection_default(f.field)
            opt = typer.Option(*flags, help=f.help, rich_help_panel=SELECTION_PANEL)
            out.append(Param(f"s_{f.field}", Annotated[bool, opt], default, field, flag=f.shown))
            continue
        opt = typer.Option(
            *flags,
            help=f.help,
            metavar=f.metavar,
            show_default=False,
            rich_help_panel=SELECTION_PANEL,
        )
        kind = list[str] | None if f.kind == "many" else str | None
        out.append(Param(f"s_{f.field}", Annotated[kind, opt], None, field, f.parse, f.shown))
    return out


def _selection_default(name: str) -> Any:
    from vegafs.engine import Selection

    return Selection.model_fields[name].default


def operation_params(op: ops.Operation) -> list[Param]:
    """An option per params field but ``selection``: ``--max-errors`` for ``max_errors``."""
    out = []
    for name, info in op.params.model_fields.items():
        if name == "selection" or (name == op.positional and not walks(op)):
            continue
        long = op.long_flags.get(name) or "--" + name.replace("_", "-")
        flags = [long] + ([op.short_flags[name]] if name in op.short_flags else [])
        shown = "/".join(sorted(flags, key=len))
        base, parse = _cli_type(info)
        help_text = info.description or ""
        default = info.default if info.default is not PydanticUndefined else None
        if base is bool:
            switch = f"{long}/--no-{long[2:]}"
            opt = typer.Option(switch, *flags[1:], help=help_text, rich_help_panel=OPTIONS_PANEL)
            out.append(Param(f"p_{name}", Annotated[bool, opt], bool(default), name, flag=shown))
            continue
        metavar = "TIME" if parse is parse_time else "PATH" if info.annotation is Path else None
        opt = typer.Option(
            *flags,
            help=help_text,
            show_default=default is not None,
            metavar=metavar,
            rich_help_panel=OPTIONS_PANEL,
        )
        out.append(Param(f"p_{name}", Annotated[base | None, opt], default, name, parse, shown))
    return out


def _cli_type(info: FieldInfo) -> tuple[Any, Callable[[str, float | None], Any] | None]:
    """The type typer reads for a field, and how its text becomes the field's value."""
    annotation = info.annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0] if len(args) == 1 else str
    if annotation is bool:
        return bool, None
    if annotation in (int, float):
        return annotation, None
    if annotation is datetime:
        return str, parse_time
    if annotation is Path:
        return str, None
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation) or (str,)
        return list[str], None if item is str else _json_or_word
    if annotation is str or typing.get_origin(annotation) is typing.Literal:
        return str, None
    return str, _json_value  # anything else is typed as JSON


def _json_value(text: str, _now: float | None) -> Any:
    import json

    try:
        return json.loads(text)
    except ValueError as e:
        raise ValueError(f"not JSON: {e}") from None


def _json_or_word(text: str, _now: float | None) -> Any:
    """An item of a list of structured values (pipeline steps): JSON, or a bare word as is."""
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


def _switch(key: str, decls: tuple[str, ...], help_text: str, panel: str) -> Param:
    return Param(key, Annotated[bool, typer.Option(*decls, help=help_text, rich_help_panel=panel)],
                 False)  # fmt: skip


def shards_param(panel: str, *, with_submit: bool) -> Param:
    """``--shards N``: the job split into up to N shards that many workers run (an operation
    that can be split: ``vegafs.ops.sharding``)."""
    shards = typer.Option("--shards", min=1, max=256, show_default=False,
                          help=f"{'With --submit: s' if with_submit else 'S'}plit the job into up "
                          "to N shards that many workers run at once (docs/concepts.md: "
                          "Sharding).", rich_help_panel=panel)  # fmt: skip
    return Param("j_shards", Annotated[int | None, shards], None)


def server_params(*, submit_flags: bool, shards: bool = False) -> list[Param]:
    """``--server`` and ``--api-key``; with ``submit_flags``, ``--submit``, ``--wait`` and
    ``--fresh`` before them (the local command's remote form), and ``--shards`` with
    ``shards``."""
    out = []
    if submit_flags:
        out += [
            _switch("j_submit", ("--submit",), "Run it as a job on the server instead of here; "
                    "prints the job's id and URL (docs/cli.md: Jobs on a server).", SERVER_PANEL),
            _switch("j_wait", ("--wait",), "With --submit: watch the job, then print its result "
                    "as a local run would.", SERVER_PANEL),
            _switch("j_fresh", ("--fresh",), "With --submit: run it even if the server has this "
                    "result cached.", SERVER_PANEL),
        ]  # fmt: skip
        if shards:
            out.append(shards_param(SERVER_PANEL, with_submit=True))
    server = typer.Option("--server", envvar="VEGAFS_SERVER", help="The VegaFS server's URL.",
                          rich_help_panel=SERVER_PANEL)  # fmt: skip
    api_key = typer.Option("--api-key", envvar="VEGAFS_API_KEY", show_default=False,
                           help="API key (from `vegafs keys create`); better set in "
                           "VEGAFS_API_KEY.", rich_help_panel=SERVER_PANEL)  # fmt: skip
    return [
        *out,
        Param("j_server", Annotated[str, server], DEFAULT_SERVER),
        Param("j_api_key", Annotated[str | None, api_key], None),
    ]


def job_params(*, shards: bool = False) -> list[Param]:
    """The options of `vegafs jobs submit OP` beside the operation's own (``--shards`` with
    ``shards``)."""
    priority = typer.Option("--priority", min=-100, max=100, help="Higher runs first.",
                            rich_help_panel=JOB_PANEL)  # fmt: skip
    attempts = typer.Option("--max-attempts", min=1, max=20, show_default=False,
                            help="Attempts before the job fails (default: the server's).",
                            rich_help_panel=JOB_PANEL)  # fmt: skip
    key = typer.Option(
        "--idempotency-key",
        show_default=False,
        rich_help_panel=JOB_PANEL,
        help="Submitting again with this key gives the first job, not a new one.",
    )
    return [
        Param("j_priority", Annotated[int, priority], 0),
        Param("j_max_attempts", Annotated[int | None, attempts], None),
        _switch("j_fresh", ("--fresh",), "Run it even if the server has this result cached.",
                JOB_PANEL),
        Param("j_idempotency_key", Annotated[str | None, key], None),
        _switch("j_wait", ("--wait",), "Then watch the job to its end (exit codes of `watch`).",
                JOB_PANEL),
        _switch("j_json", ("--json",), "The job as JSON (as GET /jobs/{id}).", JOB_PANEL),
        _switch("j_quiet", ("--quiet", "-q"), "Print only the job's id.", JOB_PANEL),
        *([shards_param(JOB_PANEL, with_submit=False)] if shards else []),
    ]  # fmt: skip


# ---- from what was typed to the params --------------------------------------------------------


def build_params(op: ops.Operation, params: list[Param], values: dict[str, Any]) -> BaseModel:
    """The operation's params model from the command line; exit 2 naming the option otherwise.
    Options not given (None) are left out of the params, so that the model's defaults apply."""
    by_field = {p.field: p for p in params if p.field}
    now: float | None = None
    if "p_now" in values and values["p_now"] is not None:  # relative ages count back from --now
        now = _parsed(by_field["now"], values["p_now"], None).timestamp()
    data: dict[str, Any] = {"selection": {}} if walks(op) else {}
    for p in params:
        value = values.get(p.key)
        if p.field is None or value is None or (p.flag == "PATH" and not value):
            continue
        if p.parse is not None:
            value = (
                [v for text in value for v in _as_list(_parsed(p, text, now))]
                if isinstance(value, list)
                else _parsed(p, value, now)
            )
        if p.field.startswith("selection."):
            data["selection"][p.field.split(".", 1)[1]] = value
        else:
            data[p.field] = value
    try:
        return op.params.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = first["loc"]
        below = "" if not loc or loc[0] == "selection" else item_place(loc[1:])
        where = flag_for(loc, params) + (f", {below}" if below else "")
        exits.fail(f"invalid {where}: {first['msg']}", exits.USAGE)


def _parsed(p: Param, text: str, now: float | None) -> Any:
    assert p.parse is not None
    try:
        return p.parse(text, now)
    except ValueError as e:
        exits.fail(f"invalid {p.flag}: {e}", exits.USAGE)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def flag_for(loc: tuple[int | str, ...] | str, params: list[Param] | None = None) -> str:
    """The option that fills a field: ('selection', 'min_size') or 'selection.min_size' ->
    '--min-size'; a field no option fills keeps its dotted name."""
    parts = loc.split(".") if isinstance(loc, str) else [str(x) for x in loc]
    if parts[:1] == ["selection"] and len(parts) > 1 and (shown := selection_flag(parts[1])):
        return shown
    for p in params or ():
        if p.field is not None and parts and p.field == parts[0] and p.flag:
            return p.flag
    return ".".join(parts) or "options"  # a rule across fields (a model validator)


def item_place(loc: tuple[int | str, ...]) -> str:
    """Where in a structured value an error is, below its field: (1, "hash", "hash", "algo")
    -> "item 2, hash.algo" (items counted from 1; a union's tag, repeated as its field, once)."""
    out: list[str] = []
    names: list[str] = []
    for part in loc:
        if isinstance(part, int):
            if names:
                out.append(".".join(names))
                names = []
            out.append(f"item {part + 1}")
        elif not names or names[-1] != part:
            names.append(part)
    if names:
        out.append(".".join(names))
    return ", ".join(out)


def require_paths(ctx: typer.Context, paths: list[Path] | None) -> list[Path]:
    """The PATH arguments, or exit 2 saying they are missing, then the usage."""
    if not paths:
        _missing(ctx, "PATH", "the directories or files to walk")
    return paths


def _missing(ctx: typer.Context, what: str, meaning: str) -> NoReturn:
    import sys

    print(f"vegafs: error: missing {what}: {meaning}", file=sys.stderr)
    print(ctx.get_usage(), file=sys.stderr)
    print(f"Try '{ctx.command_path} --help' for help.", file=sys.stderr)
    raise typer.Exit(exits.USAGE)


def make_command(
    params: list[Param], doc: str, body: Callable[[typer.Context, dict[str, Any]], None]
) -> Callable[..., None]:
    """A function typer turns into a command: its signature lists ``params``."""

    def command(ctx: typer.Context, **values: Any) -> None:
        body(ctx, values)

    context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                annotation=typer.Context)  # fmt: skip
    signature = [context] + [
        inspect.Parameter(p.key, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=p.default,
                          annotation=p.annotation)
        for p in params
    ]  # fmt: skip
    command.__signature__ = inspect.Signature(signature)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in signature}
    command.__doc__ = doc
    return command
