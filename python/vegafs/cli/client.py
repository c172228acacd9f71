"""A small client of the VegaFS REST API, for ``vegafs jobs`` and ``vegafs analyze --submit``.

A request the server refuses (4xx: bad params, a path outside the roots, an unknown job, a missing
or insufficient API key) becomes ``RequestFailed`` with exit code 2 and the problem's ``detail``;
a server that cannot be reached, times out or fails (5xx) gives exit code 4. The commands turn
``RequestFailed`` into ``vegafs: error: ...`` on stderr with ``connect``.

httpx is imported when a client is made, not with this module: ``vegafs`` starts faster.
"""

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vegafs import __version__
from vegafs.cli import exits
from vegafs.cli.values import show_path

if TYPE_CHECKING:
    import httpx

from vegafs.cli.exits import UNAVAILABLE

DEFAULT_SERVER = "http://127.0.0.1:8000"
API = "/api/v1"
FINISHED = frozenset({"succeeded", "failed", "cancelled"})
PANEL = "Server"

Server = Annotated[
    str,
    typer.Option("--server", envvar="VEGAFS_SERVER", help="The VegaFS server's URL.",
                 rich_help_panel=PANEL),
]  # fmt: skip
ApiKey = Annotated[
    str | None,
    typer.Option("--api-key", envvar="VEGAFS_API_KEY", show_default=False,
                 help="API key (from `vegafs keys create`); better set in VEGAFS_API_KEY.",
                 rich_help_panel=PANEL),
]  # fmt: skip


class RequestFailed(Exception):
    """A request that did not succeed: what to tell the user, and the exit code."""

    def __init__(self, message: str, code: int, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


@dataclass(frozen=True)
class Event:
    """One Server-Sent Event (fields that were absent are None)."""

    event: str
    data: str | None
    id: str | None
    retry_ms: int | None


def clean(text: str) -> str:
    """Text from the server made safe for a terminal (paths as `show_path` shows them)."""
    try:
        return show_path(text)
    except UnicodeError:  # a lone surrogate that is no escaped byte
        return text.encode("utf-8", "backslashreplace").decode("ascii")


def base_url(server: str) -> str:
    """``--server`` without a trailing ``/`` or ``/api/v1``; exit 2 when it is no HTTP URL."""
    url = server.strip().rstrip("/").removesuffix(API)
    if not re.match(r"(?i)^https?://[^/\s]+", url):
        exits.fail(f"--server: not an http:// or https:// URL: {server!r}", exits.USAGE)
    return url


class Client:
    """The API at ``server`` (``http://host:port``), as the holder of ``api_key``."""

    def __init__(self, server: str, api_key: str | None, timeout: float = 30.0) -> None:
        if "httpx" not in sys.modules:
            # httpx loads its own command line (click, rich) unless that import fails: unused
            # here, it costs some 40 ms of each command's start-up.
            sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
        import httpx

        self.server = base_url(server)
        try:
            httpx.URL(self.server)
        except httpx.InvalidURL as e:
            exits.fail(f"--server: {e}", exits.USAGE)
        headers = {"User-Agent": f"vegafs/{__version__}"}
        if api_key:
            if not all(32 < ord(c) < 127 for c in api_key):
                exits.fail("--api-key (VEGAFS_API_KEY): not an API key", exits.USAGE)
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(
            base_url=self.server + API,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=5.0),
        )

    def close(self) -> None:
        self._http.close()

    def url(self, link: str) -> str:
        """The absolute URL of a link the API gave (``/api/v1/jobs/7``)."""
        return self.server + link

    # ---- requests ---------------------------------------------------------------------------

    def get(self, path: str, params: Any = None) -> Any:
        return self._json(self._send("GET", path, params=params))

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self._json(self._send("POST", path, json=body, headers=headers))

    def delete(self, path: str) -> None:
        self._send("DELETE", path)

    @contextmanager
    def stream(
        self,
        path: str,
        params: Any = None,
        headers: dict[str, str] | None = None,
        read_timeout: float | None = None,
    ) -> Iterator["httpx.Response"]:
        """A streamed GET whose status is 2xx (else RequestFailed); a connection lost while the
        body is read is RequestFailed with UNAVAILABLE too."""
        import httpx

        timeout = httpx.Timeout(read_timeout or 30.0, connect=5.0)
        request = self._http.stream("GET", path, params=params, headers=headers, timeout=timeout)
        with self._failures(), request as response:
            if response.is_error:
                response.read()
                raise self._refused(response)
            yield response

    def events(self, path: str, last_event_id: str | None, read_timeout: float) -> Iterator[Event]:
        """The Server-Sent Events at ``path``, parsed as the HTML standard says (``data:`` lines
        joined, ``:`` comments skipped, the last ``id:`` kept), until the server ends the stream.
        A silence longer than ``read_timeout`` counts as a lost connection."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        with self.stream(path, headers=headers, read_timeout=read_timeout) as response:
            kind, retry, fields = "message", None, False
            data: list[str] = []
            event_id = last_event_id
            for line in response.iter_lines():
                if not line:
                    if fields:
                        yield Event(kind, "\n".join(data) if data else None, event_id, retry)
                    kind, data, retry, fields = "message", [], None, False
                    continue
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                fields = True
                if name == "event":
                    kind = value
                elif name == "data":
                    data.append(value)
                elif name == "id" and "\0" not in value:
                    event_id = value or None
                elif name == "retry" and value.isdigit():
                    retry = int(value)

    # ---- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _failures(self) -> Iterator[None]:
        """httpx's transport errors as RequestFailed(UNAVAILABLE), naming the server."""
        import httpx

        try:
            yield
        except httpx.TimeoutException:
            message = f"{self.server}: the server did not answer in time"
            raise RequestFailed(message, UNAVAILABLE) from None
        except httpx.TransportError as e:
            reason = re.sub(r"^\[Errno -?\d+\] ", "", str(e)) or type(e).__name__
            message = f"cannot reach the server at {self.server}: {reason}"
            raise RequestFailed(message, UNAVAILABLE) from None

    def _send(self, method: str, path: str, **kwargs: Any) -> "httpx.Response":
        with self._failures():
            response = self._http.request(method, path, **kwargs)
        if response.is_error:
            raise self._refused(response)
        return response

    @staticmethod
    def _json(response: "httpx.Response") -> Any:
        try:
            return response.json()
        except ValueError:
            raise RequestFailed(
                f"the server sent {response.headers.get('content-type', 'no')} content, not JSON",
                UNAVAILABLE,
                response.status_code,
            ) from None

    def _refused(self, response: "httpx.Response") -> RequestFailed:
        """A problem+json answer (or any error answer) as RequestFailed."""
        status = response.status_code
        detail = None
        try:
            body = response.json()
        except ValueError:
            body = None
        # A problem of the API's own, but not "no such route": then the URL itself is wrong.
        problem = body if isinstance(body, dict) else {}
        no_route = str(problem.get("type", "")).endswith("/not-found")
        if isinstance(problem.get("detail"), str) and not no_route:
            detail = clean(problem["detail"])
        if status < 500:
            # No problem+json: not an answer of the VegaFS API (a wrong --server path, a proxy).
            message = detail or (
                f"{response.request.url}: HTTP {status} {response.reason_phrase} "
                f"(is {self.server} a VegaFS server?)"
            )
            if status == 401:
                message += " (set VEGAFS_API_KEY or pass --api-key)"
            return RequestFailed(message, exits.USAGE, status)
        reason = detail or response.reason_phrase
        return RequestFailed(f"{self.server}: the server failed: {reason} (HTTP {status})",
                             UNAVAILABLE, status)  # fmt: skip


@contextmanager
def connect(server: str, api_key: str | None) -> Iterator[Client]:
    """A client for a command: RequestFailed ends the command with its message and exit code."""
    client = Client(server, api_key)
    try:
        yield client
    except RequestFailed as e:
        exits.fail(e.message, e.code)
    finally:
        client.close()


def dumps(value: Any) -> str:
    """Compact JSON as the API writes it (ASCII: paths that are not UTF-8 stay exact)."""
    return json.dumps(value, separators=(",", ":"))
