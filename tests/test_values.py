"""Parsing sizes and times as users type them, and showing paths as users should read them."""

import os
from datetime import UTC, datetime, timedelta

import pytest

from vegafs.cli.values import human_bytes, parse_size, parse_time, show_path

NOW = 1_700_000_000.0
DAY = 86_400


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("500", 500),
        ("0", 0),
        ("12b", 12),
        ("10k", 10 * 1024),
        ("10K", 10 * 1024),
        ("10kb", 10 * 1024),
        (" 7 KiB ", 7 * 1024),
        ("1.5M", 1_572_864),
        ("1.5k", 1536),
        ("2GiB", 2 * 1024**3),
        ("2g", 2 * 1024**3),
        ("3T", 3 * 1024**4),
    ],
)
def test_parse_size_reads_numbers_with_binary_units(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["10q", "", "k", "-1", "1.5.5", "1e3", "10 k b", "ten"])
def test_parse_size_refuses_what_is_not_a_size(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a size: .* \(examples: 500, 10k, 1\.5M, 2G\)"):
        parse_size(text)


def test_parse_time_reads_an_iso_date_as_local_midnight() -> None:
    t = parse_time("2024-05-01")
    assert t == datetime(2024, 5, 1).astimezone()
    assert t.tzinfo is not None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2024-01-01T00:00:00Z", 1_704_067_200),
        ("2024-05-01T12:00:00+02:00", 1_714_557_600),
        ("2024-05-01T10:00:00+00:00", 1_714_557_600),
        ("@1714557600", 1_714_557_600),
        ("@0", 0),
    ],
)
def test_parse_time_reads_iso_times_and_epoch_seconds(text: str, seconds: int) -> None:
    assert parse_time(text).timestamp() == seconds


def test_parse_time_keeps_the_offset_it_was_given() -> None:
    t = parse_time("2024-05-01T12:00:00+02:00")
    assert t.utcoffset() == timedelta(hours=2)
    assert parse_time("@1714557600") == datetime(2024, 5, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "ago"),
    [
        ("30s", 30),
        ("90m", 90 * 60),
        ("5min", 5 * 60),
        ("12h", 12 * 3600),
        ("1.5h", 5400),
        ("7d", 7 * DAY),
        ("2w", 14 * DAY),
        ("1y", 365 * DAY),
    ],
)
def test_parse_time_reads_an_age_before_now(text: str, ago: int) -> None:
    t = parse_time(text, now=NOW)
    assert t.timestamp() == NOW - ago
    assert t.tzinfo == UTC


@pytest.mark.parametrize("text", ["yesterday", "7x", "", "@abc", "@nan", "2024-13-01", "d7"])
def test_parse_time_refuses_what_is_not_a_time(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a time: "):
        parse_time(text, now=NOW)


@pytest.mark.parametrize("text", ["@1e20", "@inf", "99999999999999d"])
def test_parse_time_refuses_out_of_range_times_with_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a time: "):
        parse_time(text, now=NOW)


def test_show_path_escapes_bytes_that_are_not_utf8() -> None:
    name = b"dir/caf\xe9.txt".decode("utf-8", "surrogateescape")  # what os.fsdecode gives
    assert show_path(name) == "dir/caf\\xe9.txt"


def test_show_path_keeps_valid_utf8() -> None:
    assert show_path("dir/café/日本.txt") == "dir/café/日本.txt"


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("two\nlines", "two\\nlines"),
        ("tab\there", "tab\\there"),
        ("esc\x1b[2Jclear", "esc\\x1b[2Jclear"),
        ("bell\x07", "bell\\x07"),
        ("del\x7f", "del\\x7f"),
        ("cr\rover", "cr\\x0dover"),
    ],
)
def test_show_path_escapes_control_characters(name: str, shown: str) -> None:
    assert show_path(name) == shown


def test_show_path_escapes_c1_control_characters() -> None:
    assert "\x9b" not in show_path("csi\u009b2Jclear")
    assert "\x85" not in show_path("nel\u0085x")


@pytest.mark.parametrize(
    ("n", "shown"),
    [(0, "0 B"), (1023, "1,023 B"), (1024, "1.0 KiB"), (1_572_864, "1.5 MiB"), (5 * 1024**5,
     "5,120.0 TiB")],
)  # fmt: skip
def test_human_bytes_uses_binary_units(n: int, shown: str) -> None:
    assert human_bytes(n) == shown


def test_show_path_shortcut_for_printable_names_changes_nothing() -> None:
    """Printable names are returned as they are; every other code point of the first planes and
    every undecodable byte still goes through the escaping, with the same outcome."""
    escaped = 0
    for code in [*range(0x3000), *range(0xDC80, 0xDD00), 0x2028, 0xFEFF, 0x1F600]:
        name = f"a{chr(code)}b"
        shown = show_path(name)
        slow = os.fsencode(name).decode("utf-8", "backslashreplace")
        slow = "".join(f"\\x{ord(c):02x}" if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 else c
                       for c in slow).replace("\\x0a", "\\n").replace("\\x09", "\\t")  # fmt: skip
        assert shown == slow, hex(code)
        escaped += shown != name
    assert escaped == 0x20 + 0x21 + 0x80  # C0, DEL and C1, undecodable bytes
