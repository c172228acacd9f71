"""Writes ``quick_options.json``, the quick path's table (``vegafs.cli.quick``), from the commands.

For each operation the quick path runs: every option click knows, the key its value fills and
how it is read; how each value is checked (the params model's bounds); the params' defaults; and
the Selection's defaults. ``python -m vegafs.cli.quick_table`` rewrites it (``make docs`` does);
``--check`` exits 1 when it is not what the commands say (a test runs it).
"""

import json
import sys
from pathlib import Path
from typing import Any

from vegafs import ops
from vegafs.cli.commands import Param
from vegafs.cli.operations import command_for, local_command, local_params
from vegafs.cli.quick import RUNNERS, TABLE
from vegafs.engine import Selection

# Keys of a property's JSON schema that say nothing the quick path must check.
_SAID_NOTHING = {"type", "title", "description", "default"}


def table() -> dict[str, Any]:
    selection = Selection(roots=[Path()]).model_dump(mode="json")
    del selection["roots"]
    return {
        "selection_defaults": selection,
        "operations": {name: _operation(ops.get(name)) for name in sorted(RUNNERS)},
    }


def _operation(op: ops.Operation) -> dict[str, Any]:
    command = command_for(op.name, local_command)
    params = {p.key: p for p in local_params(op)}
    properties = op.params.model_json_schema()["properties"]
    selection_properties = Selection.model_json_schema()["properties"]
    options: dict[str, list[str]] = {}
    values: dict[str, dict[str, Any]] = {}
    for cp in command.params:
        if cp.param_type_name != "option" or cp.nargs != 1 or getattr(cp, "count", False):
            continue  # PATH, or a kind of option the quick path does not read
        kind = "switch" if cp.is_flag else "many" if cp.multiple else "value"
        options |= {flag: [cp.name, kind] for flag in cp.opts}
        options |= {flag: [cp.name, "off"] for flag in cp.secondary_opts}
        values[cp.name] = _value(params[cp.name], properties, selection_properties)
    defaults = {
        name: info.default
        for name, info in op.params.model_fields.items()
        if name != "selection" and not info.is_required()
    }
    # The option whose values the first argument fills when it is not given (search's PATTERN).
    positional = None if op.positional is None else f"p_{op.positional}"
    # The options the next arguments fill, in order, when not given (replace's REPLACEMENT).
    more = [f"p_{name}" for name in op.more_positionals]
    return {"options": options, "values": values, "defaults": defaults, "positional": positional,
            "more_positionals": more}  # fmt: skip


def _value(
    p: Param, properties: dict[str, Any], selection_properties: dict[str, Any]
) -> dict[str, Any]:
    """How the quick path reads and checks the value of ``p``."""
    if p.field is None:
        return {"parse": "str"}  # an output or server option: a switch, or text taken as is
    if p.field.startswith("selection."):
        schema = _not_null(selection_properties[p.field.removeprefix("selection.")])
        return {"field": p.field, "parse": "selection", **_bounds(schema)}
    schema = _not_null(properties[p.field])
    said = set(schema) - _SAID_NOTHING
    match schema.get("type"):
        case "integer" if said <= {"minimum", "maximum"}:
            return {"field": p.field, "parse": "int", **_bounds(schema)}
        case "string" if schema.get("format") == "date-time" and said == {"format"}:
            return {"field": p.field, "parse": "time"}
        case "string" | "boolean" if not said:
            return {"field": p.field, "parse": "str"}
        case "string" if said == {"enum"}:
            return {"field": p.field, "parse": "choice", "choices": schema["enum"]}
        case "array" if schema.get("items") == {"type": "string"} and said <= {"items", "minItems"}:
            return {"field": p.field, "parse": "strs"}  # a repeatable option, taken as typed
    return {"field": p.field, "parse": "unsupported"}  # the full command checks it


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    options = [s for s in schema.get("anyOf", ()) if s.get("type") != "null"]
    return options[0] if len(options) == 1 else schema


def _bounds(schema: dict[str, Any]) -> dict[str, Any]:
    return {k[:3]: schema[k] for k in ("minimum", "maximum") if k in schema}


def text() -> str:
    return json.dumps(table(), indent=1, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    new = text()
    if "--check" in argv:
        if not TABLE.exists() or TABLE.read_text() != new:
            print(f"{TABLE}: out of date; run `python -m vegafs.cli.quick_table`", file=sys.stderr)
            return 1
        return 0
    TABLE.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
