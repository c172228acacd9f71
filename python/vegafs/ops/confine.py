"""Confining the paths of a spec to allowed roots.

A path is accepted when it is absolute, has no NUL byte and no over-long name, exists, and its
real path (``..`` removed, every symlink resolved) lies inside one of the roots. The spec then
names the real path, so the walk starts where the check looked.
"""

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vegafs.errors import PathNotAllowed

__all__ = ["NAME_MAX", "PATH_MAX", "PathNotAllowed", "confine", "confine_selection", "inside"]

NAME_MAX = 255
PATH_MAX = 4096


def inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def confine(path: str | Path, roots: Sequence[Path]) -> Path:
    """The real path of ``path``, or PathNotAllowed saying why not."""
    text = os.fspath(path)
    shown = text.replace("\0", "\\0")
    if "\0" in text:
        raise PathNotAllowed(shown, "contains a NUL byte")
    if len(os.fsencode(text)) > PATH_MAX:
        raise PathNotAllowed(shown[:200] + "...", f"longer than {PATH_MAX} bytes")
    if any(len(os.fsencode(part)) > NAME_MAX for part in text.split("/")):
        raise PathNotAllowed(shown, f"has a name longer than {NAME_MAX} bytes")
    if not text.startswith("/"):
        raise PathNotAllowed(shown, "is not an absolute path")
    if not roots:
        raise PathNotAllowed(shown, "is outside the allowed roots (none are configured)")
    try:
        real = Path(os.path.realpath(text, strict=True))
    except FileNotFoundError:
        raise PathNotAllowed(shown, "does not exist") from None
    except OSError as e:
        raise PathNotAllowed(shown, e.strerror or str(e)) from None
    if not any(inside(real, root) for root in roots):
        where = "" if real == Path(text) else f" (it resolves to {real})"
        raise PathNotAllowed(shown, f"is outside the allowed roots{where}")
    return real


def confine_selection(spec: Any, roots: Sequence[Path]) -> Any:
    """``spec`` with its ``selection.roots`` confined and replaced by their real paths.

    Following symlinks is refused: a link met during the walk could lead out of the roots.
    """
    selection = spec.selection
    if selection.follow_symlinks:
        raise PathNotAllowed(
            "selection.follow_symlinks", "cannot be true for a job (links could leave the roots)"
        )
    real = [confine(p, roots) for p in selection.roots]
    return spec.model_copy(update={"selection": selection.model_copy(update={"roots": real})})
