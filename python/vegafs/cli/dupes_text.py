"""``vegafs dupes``' text output, shared by its presenter and the quick path (plain Python)."""

from typing import Any

from vegafs.cli.values import human_bytes, show_path


def group_paragraphs(rows: list[dict[str, Any]]) -> str:
    """Per group a line ``SIZE x COUNT = WASTED wasted, HASH``, its paths, a blank line."""
    text = []
    for g in rows:
        size, wasted = human_bytes(g["size"]), human_bytes(g["wasted_bytes"])
        text.append(f"{size} x {g['count']} = {wasted} wasted, {g['hash']}\n")
        text.extend(show_path(p) + "\n" for p in g["paths"])
        text.append("\n")
    return "".join(text)


def totals_line(groups: int, files: int, reclaimable_bytes: int) -> str:
    return f"{groups:,} groups, {files:,} files, {human_bytes(reclaimable_bytes)} reclaimable\n"
