"""The command reference of docs/cli.md, written from the commands themselves.

``python -m vegafs.cli.reference docs/cli.md`` rewrites the part of the file between the
markers; ``--check`` exits 1 when the file is not what the commands say (a test runs it), so
the option tables never drift from the code: operations' options come from their declarations.
"""

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from vegafs.cli.app import app

BEGIN = "<!-- BEGIN GENERATED REFERENCE: python -m vegafs.cli.reference docs/cli.md -->"
END = "<!-- END GENERATED REFERENCE -->"


def reference() -> str:
    root = typer.main.get_command(app)
    ctx = typer.Context(root, info_name="vegafs")
    parts = ["## Reference", "", "Every command and its options, as `--help` shows them.", ""]
    for path, command, sub in _leaves(root, ctx, ["vegafs"]):
        parts += _section(path, command, sub)
    return "\n".join(parts).rstrip() + "\n"


def _leaves(group: Any, ctx: Any, path: list[str]) -> Iterator[tuple[list[str], Any, Any]]:
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        sub = typer.Context(command, info_name=name, parent=ctx)
        if hasattr(command, "list_commands"):
            yield from _leaves(command, sub, [*path, name])
        else:
            yield [*path, name], command, sub


def _section(path: list[str], command: Any, ctx: Any) -> list[str]:
    usage = " ".join([*path, *command.collect_usage_pieces(ctx)])
    help_text = (command.help or "").strip().split("\n\n")[0].replace("\n", " ")
    lines = [f"### `{' '.join(path)}`", "", help_text, "", "```", usage, "```", ""]
    rows = [_row(p) for p in command.params if p.param_type_name == "option" and p.help]
    if rows:
        lines += ["| option | default | meaning |", "| --- | --- | --- |", *rows, ""]
    return lines


def _row(param: Any) -> str:
    names = ", ".join(f"`{n}`" for n in sorted(param.opts, key=len))
    if param.secondary_opts:
        names += " / " + ", ".join(f"`{n}`" for n in param.secondary_opts)
    if param.envvar:
        names += f" (env `{param.envvar}`)"
    metavar = param.metavar or ("" if param.is_flag else _type_name(param))
    if metavar:
        names += f" {metavar}"
    default = ""
    if param.show_default and param.default not in (None, False, [], ()):
        default = f"`{param.default}`"
    if param.is_flag and param.secondary_opts:
        default = f"`{param.opts[0] if param.default else param.secondary_opts[0]}`"
    meaning = " ".join(param.help.split()).replace("|", "\\|")
    return f"| {names} | {default} | {meaning} |"


def _type_name(param: Any) -> str:
    annotation = str(param.type_descriptor.annotation)
    for python, shown in (("int", "N"), ("float", "X"), ("str", "TEXT"), ("Path", "PATH")):
        if python in annotation:
            return shown
    return "VALUE"


def rewrite(text: str) -> str:
    """``text`` with the part between the markers replaced by the reference."""
    start, end = text.index(BEGIN), text.index(END)
    return text[: start + len(BEGIN)] + "\n\n" + reference() + "\n" + text[end:]


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"]
    if len(paths) != 1:
        print("usage: python -m vegafs.cli.reference [--check] docs/cli.md", file=sys.stderr)
        return 2
    path = Path(paths[0])
    text = path.read_text()
    new = rewrite(text)
    if check:
        if new != text:
            print(f"{path}: the command reference is out of date; run "
                  f"`python -m vegafs.cli.reference {path}`", file=sys.stderr)  # fmt: skip
            return 1
        return 0
    path.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
