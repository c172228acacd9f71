"""Confining the paths of a spec to allowed roots.

A path is accepted when it is absolute, has no NUL byte and no over-long name, lies inside one of
the roots both as written (``..`` removed lexically, no filesystem access) and as its real path
(every symlink resolved), and exists. The spec then names the real path, so the walk starts where
the check looked.

A path outside the roots gets the same answer whether it exists, cannot be read or is a symlink,
and the answer never says where a link leads: the lexical check comes first and looks at nothing
on disk, the resolved check says only "is outside the allowed roots". Whether a path exists, and
whether the service may look at it, is said only of paths inside the roots.
"""

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vegafs.errors import PathNotAllowed, PathPermissionDenied

__all__ = [
    "NAME_MAX",
    "OUTSIDE",
    "PATH_MAX",
    "PathNotAllowed",
    "PathPermissionDenied",
    "confine",
    "confine_new",
    "confine_selection",
    "inside",
]

NAME_MAX = 255
PATH_MAX = 4096
OUTSIDE = "is outside the allowed roots"  # the one reason given for any path outside them


def inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _as_written(path: str | Path, roots: Sequence[Path]) -> tuple[str, str]:
    """``path`` as text and as shown in errors, once it passes every check that looks at nothing
    on disk; else PathNotAllowed."""
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
    refused = PathNotAllowed(shown, OUTSIDE)
    # 1. As written, with no filesystem access: nothing outside the roots is ever looked at.
    if not any(inside(Path(os.path.normpath(text)), root) for root in roots):
        raise refused
    return text, shown


def confine(path: str | Path, roots: Sequence[Path]) -> Path:
    """The real path of ``path``, or PathNotAllowed saying why not."""
    text, shown = _as_written(path, roots)
    refused = PathNotAllowed(shown, OUTSIDE)
    # 2. Every symlink that can be followed resolved (what cannot be is kept as written), so a
    # link out of the roots is refused the same way whether its target exists or not.
    if not any(inside(Path(os.path.realpath(text)), root) for root in roots):
        raise refused
    # 3. Inside the roots: it must exist and be reachable.
    try:
        real = Path(os.path.realpath(text, strict=True))
    except FileNotFoundError:
        raise PathNotAllowed(shown, "does not exist") from None
    except PermissionError:
        raise PathPermissionDenied(shown) from None
    except OSError as e:
        raise PathNotAllowed(shown, e.strerror or str(e)) from None
    if not any(inside(real, root) for root in roots):  # changed since step 2
        raise refused
    return real


def confine_new(path: str | Path, roots: Sequence[Path]) -> Path:
    """As ``confine``, for a directory a writing operation may create: its nearest existing
    directory is confined, the missing names kept. A path outside the roots as written is
    refused as such before anything on disk is looked at (which of its parents exist is not
    said)."""
    _as_written(path, roots)
    near, missing = Path(os.path.normpath(path)), []
    while not os.path.lexists(near) and near != near.parent:
        missing.append(near.name)
        near = near.parent
    return confine(near, roots).joinpath(*reversed(missing))


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
