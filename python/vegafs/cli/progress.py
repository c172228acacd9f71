"""A one-line progress display on stderr, for runs that take more than a moment on a terminal."""

import sys
import threading
import time
from types import TracebackType
from typing import TextIO

from vegafs.cli.values import human_bytes
from vegafs.engine import Progress


class ProgressLine:
    """Shows entries, entries/s and bytes every 100 ms, after a 300 ms quiet start, only when the
    stream is a terminal (and ``enabled``: not over rows written to the same terminal); clears
    its line when done."""

    def __init__(
        self,
        progress: Progress,
        stream: TextIO | None = None,
        delay: float = 0.3,
        *,
        enabled: bool = True,
    ):
        self._progress = progress
        self._stream = stream or sys.stderr
        self._delay = delay
        self._enabled = enabled
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._shown = False

    def __enter__(self) -> "ProgressLine":
        if self._enabled and self._stream.isatty():
            self._thread = threading.Thread(target=self._run, name="vegafs-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()

    def _run(self) -> None:
        start = time.monotonic()
        if self._stop.wait(self._delay):
            return
        while True:
            entries, dirs, size, errors = self._progress.snapshot()
            rate = entries / max(time.monotonic() - start, 1e-9)
            line = (
                f"{entries:,} entries · {dirs:,} dirs · {human_bytes(size)} · {rate:,.0f} entries/s"
            )
            if errors:
                line += f" · {errors:,} errors"
            self._stream.write(f"\r\x1b[K{line}")
            self._stream.flush()
            self._shown = True
            if self._stop.wait(0.1):
                return
