"""A plugin's worker process: ``python -c '...import main; main()' FD PARENT_PID``.

It imports the function by its "module:function" name, then runs it on each batch the parent
sends over the socket FD and sends back its rows (or its failure), until the parent closes the
socket. Only the standard library and ``vegafs.plugins`` are imported here, so a worker process
starts as fast as an interpreter does (plus the plugin's own imports).

Messages are pickled tuples, each after its length (8 bytes, big-endian). Parent -> child: first
``(target, sys_path, params)`` (params: the pickled plugin parameters, or None), then batches
``(number, paths, types, sizes, mtimes)`` (columns: cheaper to pickle than rows). Child ->
parent: ``("ready", pid)`` or ``("failed", traceback)`` once, then for each batch
``(number, "ok", rows, file_errors)`` or ``(number, kind, message, traceback)``, kind
"exception" or "bad-row".
"""

import importlib
import json
import os
import pickle
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from typing import Any

from vegafs.plugins import File, FileError, info_of

PR_SET_PDEATHSIG = 1
_HEADER = 8


def send(sock: socket.socket, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(len(data).to_bytes(_HEADER, "big") + data)


def receive(sock: socket.socket) -> Any:
    """The next message; EOFError when the other side closed the socket."""
    size = int.from_bytes(_exactly(sock, _HEADER), "big")
    return pickle.loads(_exactly(sock, size))


def _exactly(sock: socket.socket, n: int) -> bytearray:
    buffer = bytearray(n)
    view = memoryview(buffer)
    done = 0
    while done < n:
        got = sock.recv_into(view[done:])
        if got == 0:
            raise EOFError
        done += got
    return buffer


def load(target: str) -> Callable[..., Any]:
    """The function named ``module:function`` (``module:object.function`` too)."""
    module, sep, attribute = target.partition(":")
    if not sep or not module or not attribute:
        raise ValueError(f"{target!r}: expected MODULE:FUNCTION")
    found: Any = importlib.import_module(module)
    for part in attribute.split("."):
        found = getattr(found, part)
    if not callable(found):
        raise TypeError(f"{target} is a {type(found).__name__}, not a function")
    return found  # type: ignore[no-any-return]


def main() -> None:
    # (Started in a session of its own: Ctrl-C at a terminal reaches the VegaFS process only,
    # which stops this one.)
    _die_with_parent(int(sys.argv[2]))
    sock = socket.socket(fileno=int(sys.argv[1]))
    sock.set_inheritable(False)  # not kept open by processes the plugin starts
    try:
        serve(sock)
    except (EOFError, ConnectionError):  # the parent closed the socket, or is gone
        pass
    finally:
        sock.close()


def serve(sock: socket.socket) -> None:
    target, sys_path, params = receive(sock)
    for entry in reversed(sys_path):  # the parent's, as it was when the run started
        if entry not in sys.path:
            sys.path.insert(0, entry)
    try:
        function = load(target)
        info = info_of(function)
        args: tuple[Any, ...] = () if params is None else (pickle.loads(params),)
    except BaseException:
        send(sock, ("failed", traceback.format_exc()))
        return
    send(sock, ("ready", os.getpid()))
    while True:
        message = receive(sock)
        if message is None:
            return
        number, paths, types, sizes, mtimes = message
        files = list(map(File, paths, types, sizes, mtimes))
        try:
            out = function(files, *args)
            rows, errors = _collect(out)
        except BaseException as e:
            send(sock, (number, "exception", _one_line(e), _plugin_traceback(e)))
            continue
        try:
            rows = _checked(rows, info.row)
        except _BadRow as e:
            send(sock, (number, "bad-row", str(e), None))
            continue
        send(sock, (number, "ok", rows, errors))


class _BadRow(Exception):
    pass


def _collect(out: Any) -> tuple[list[Any], list[tuple[str, str]]]:
    """The rows and the FileErrors a plugin returned or yielded (a generator runs here)."""
    if out is None:
        return [], []
    if isinstance(out, dict):
        return [out], []
    rows: list[Any] = []
    errors: list[tuple[str, str]] = []
    for item in out:
        if isinstance(item, FileError):
            errors.append((str(item.path), str(item.error)))
        else:
            rows.append(item)
    return rows, errors


def _checked(rows: list[Any], model: Any) -> list[Any]:
    """Rows as the parent may send them on: dicts that JSON can write (validated by the
    plugin's row model when it declared one)."""
    for n, row in enumerate(rows):
        if not isinstance(row, dict):
            raise _BadRow(f"row {n} of the batch is a {type(row).__name__}, not a dict")
    if model is not None:
        try:
            rows = [model.model_validate(row).model_dump(mode="json") for row in rows]
        except Exception as e:
            raise _BadRow(f"a row does not match {model.__name__}: {e}") from None
    try:
        json.dumps(rows)
    except (TypeError, ValueError) as e:
        raise _BadRow(f"a row cannot be written as JSON: {e}") from None
    return rows


def _plugin_traceback(e: BaseException) -> str:
    """The traceback from the plugin's own frame on (this module's frames left out)."""
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(e), e, tb))


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _die_with_parent(parent: int) -> None:
    """SIGKILL when the VegaFS process (the thread that started this one) ends, even by -9."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it ended before prctl: nobody will read our answers
        os._exit(0)
