"""Parsing and showing the values users type and read: sizes, times, paths."""

import os
import re
import time
from datetime import UTC, datetime

_SIZE = re.compile(r"(?i)^\s*(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib|t|tb|tib)?\s*$")
_UNITS = {"": 0, "b": 0, "k": 1, "m": 2, "g": 3, "t": 4}
_AGO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w|y)\s*$")
_AGO_SECONDS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def parse_size(text: str) -> int:
    """'4096', '10k', '1.5M', '2GiB' -> bytes. Every unit is a power of 1024."""
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"not a size: {text!r} (examples: 500, 10k, 1.5M, 2G)")
    unit = (m.group(2) or "").lower()[:1]
    size = int(float(m.group(1)) * 1024 ** _UNITS[unit])
    if size >= 2**64:
        raise ValueError(f"{text!r} is more than 16 EiB")
    return size


def parse_time(text: str, now: float | None = None) -> datetime:
    """An ISO date or time ('2024-05-01', '2024-05-01T12:00:00+02:00'), seconds since the epoch
    ('@1714557600'), or an age before ``now`` ('90m', '12h', '7d', '2w', '1y')."""
    m = _AGO.match(text)
    try:
        if m:
            base = time.time() if now is None else now
            ago = float(m.group(1)) * _AGO_SECONDS[m.group(2)]
            return datetime.fromtimestamp(base - ago, UTC)
        if text.startswith("@"):
            return datetime.fromtimestamp(float(text[1:]), UTC)
        t = datetime.fromisoformat(text)
        return t if t.tzinfo else t.astimezone()
    except (ValueError, OverflowError, OSError):
        # OverflowError and OSError (EOVERFLOW): a time outside what datetime can hold.
        raise ValueError(
            f"not a time: {text!r} (examples: 2024-05-01, 2024-05-01T12:00:00Z, @1714557600, 7d)"
        ) from None


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


# C0, DEL and C1 control characters (C1 includes CSI, which terminals obey).
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_CONTROL |= {0x0A: "\\n", 0x09: "\\t"}


def show_path(path: str) -> str:
    """A path as a person should read it: bytes that are not UTF-8 as \\xNN, control characters
    escaped, so that every name is shown and none can rewrite the terminal."""
    if path.isprintable():  # no surrogate and no control character: shown as it is (fast)
        return path
    raw = os.fsencode(path)
    return raw.decode("utf-8", "backslashreplace").translate(_CONTROL)
