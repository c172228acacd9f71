"""Line, word and character counts of text files, like ``wc -l -w -m``: a VegaFS plugin.

Registered by the entry point ``textstats = "vegafs_textstats:textstats"`` (group
``vegafs.operations``), it is the command ``vegafs textstats PATH...`` and the job type
``textstats``. Binary files (a NUL byte in the first 8,000 bytes) get no row.
"""

import codecs
import os
import stat
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict

from vegafs.plugins import File, FileError, plugin

CHUNK = 1 << 20
SNIFF = 8000  # git's and grep's look for a NUL byte


class TextStats(BaseModel):
    """One row: a text file's counts."""

    model_config = ConfigDict(extra="forbid")

    path: str
    lines: int  # newline bytes
    words: int  # runs of bytes other than ASCII whitespace
    chars: int  # UTF-8 characters (an invalid byte counts as one)
    bytes: int


@plugin(
    summary="Line, word and character counts of text files (like wc); binary files skipped.",
    row=TextStats,
    text="{lines:>8} {words:>8} {chars:>8} {path}",
)
def textstats(files: list[File]) -> Iterator[dict[str, object] | FileError]:
    for f in files:
        if f.type != "file":
            continue
        try:
            counts = count(f.path)
        except OSError as e:
            yield FileError(f.path, e.strerror or str(e))
            continue
        if counts is not None:
            yield {"path": f.path, **counts}


def count(path: str) -> dict[str, int] | None:
    """The counts of the file at ``path``, or None when it is binary or not a regular file.
    The last name is opened without following a symlink; OSError when it cannot be read."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb", buffering=0) as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        lines = words = chars = size = 0
        in_word = False
        first = True
        while chunk := f.read(CHUNK):
            if first and b"\0" in chunk[:SNIFF]:
                return None
            first = False
            size += len(chunk)
            lines += chunk.count(b"\n")
            pieces = chunk.split()
            words += len(pieces)
            if in_word and pieces and not chunk[:1].isspace():
                words -= 1  # a word cut in two by the chunk boundary
            in_word = not chunk[-1:].isspace()
            chars += len(decoder.decode(chunk))
        chars += len(decoder.decode(b"", final=True))
    return {"lines": lines, "words": words, "chars": chars, "bytes": size}
