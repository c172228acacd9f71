"""The journal's rows: one ``write_ops`` row per writing operation and its ``write_steps``."""

import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from vegafs.db.plain import PlainDatabase, utcnow

APPLYING, COMMITTED, ROLLED_BACK, FAILED = "applying", "committed", "rolled_back", "failed"
UNDONE = "undone"  # committed, then reversed by an "undo" operation
INSERT_BATCH = 5000
_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
_STEP_COLUMNS = "op_id, seq, src, dst, dev, ino, stamp, kind, backup, digest"


class Step(NamedTuple):
    """One step: paths as ``str`` (surrogate escapes for bytes that are not UTF-8) and the
    identity of the entry it changes: device, inode, and a stamp (its mtime in ns; 0 for a
    directory) that tells it from a new entry on a reused inode. ``kind`` says what the step
    does (``vegafs.journal.kinds``; a rename by default); ``backup`` where the journal's backup
    store keeps the bytes it replaces, ``digest`` the hash of what it wrote, if its kind has
    them. A named tuple: a plan has as many steps as entries, and a tuple is made fastest."""

    src: str
    dst: str
    dev: int
    ino: int
    stamp: int
    kind: str = "rename"
    backup: str | None = None
    digest: bytes | None = None

    @property
    def identity(self) -> tuple[int, int, int]:
        return (self.dev, self.ino, self.stamp)


@dataclass(frozen=True)
class OpRecord:
    id: int
    operation: str
    params: dict[str, Any]
    state: str
    steps_total: int
    steps_done: int
    error: str | None
    created_at: datetime  # naive UTC
    owner: str | None = None  # see ``owner()``
    job_id: int | None = None
    beneath: tuple[str, ...] = ()  # a job's roots: its changes stay beneath them


def owner() -> str:
    """This process, as the journal names who runs an operation: host, pid, and the process's
    start time in clock ticks since boot (a pid reused by another process has another)."""
    return f"{socket.gethostname()} pid {os.getpid()} start {_start_ticks(os.getpid())}"


def owner_alive(name: str | None) -> bool | None:
    """Whether the process ``owner()`` named is still running: None if it ran on another host
    (this one cannot tell)."""
    if name is None:
        return False
    host, _, rest = name.partition(" pid ")
    if host != socket.gethostname():
        return None
    pid, _, start = rest.partition(" start ")
    try:
        return _start_ticks(int(pid)) == start
    except (OSError, ValueError):
        return False


def _start_ticks(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    # The fields after the command name (in parentheses, which may hold anything): 22nd field.
    return stat[stat.rindex(b")") + 2 :].split()[19].decode()


_OP_COLUMNS = (
    "id, operation, params, state, steps_total, steps_done, error, owner, job_id, beneath, "
    "created_at"
)


class Journal:
    """The journal's rows in the job database, through the driver alone (``PlainDatabase``:
    no SQLAlchemy to import before a writing command's first change)."""

    def __init__(self, db: PlainDatabase) -> None:
        self.db = db

    def close(self) -> None:
        self.db.close()

    def begin(
        self,
        operation: str,
        params: dict[str, Any],
        steps: Sequence[Step],
        *,
        job_id: int | None = None,
        beneath: Sequence[str] = (),
    ) -> int:
        """Writes the operation (run by this process, for ``job_id`` if any, its changes
        confined beneath ``beneath`` if any) and all its steps in one transaction; its id once
        committed."""
        db = self.db
        now = db.time_in(utcnow())
        with db.write() as cur:
            op_id = cur.execute(
                "INSERT INTO write_ops (operation, params, state, steps_total, steps_done, "
                "created_at, updated_at, owner, job_id, beneath) "
                "VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?) RETURNING id",
                (operation, db.json_in(params), APPLYING, len(steps), now, now, owner(), job_id,
                 db.json_in(list(beneath) or None)),
            )[0][0]  # fmt: skip
            enc, errors = _FS_ENCODING, _FS_ERRORS  # as os.fsencode, without its type checks
            sql = f"INSERT INTO write_steps ({_STEP_COLUMNS}) VALUES ({', '.join(['?'] * 10)})"
            for i in range(0, len(steps), INSERT_BATCH):
                cur.executemany(
                    sql,
                    [
                        (op_id, i + j, s.src.encode(enc, errors), s.dst.encode(enc, errors),
                         s.dev, s.ino, s.stamp, s.kind,
                         None if s.backup is None else s.backup.encode(enc, errors), s.digest)
                        for j, s in enumerate(steps[i : i + INSERT_BATCH])
                    ],
                )  # fmt: skip
        return int(op_id)

    def advance(self, op_id: int, steps_done: int) -> None:
        self._set(op_id, "steps_done", steps_done)

    def finish(self, op_id: int, state: str, *, steps_done: int, error: str | None = None) -> None:
        """Ends the operation in ``state``. An undo that commits marks the operation it undid
        ``undone`` in the same transaction, whether it commits as it runs or in recovery."""
        db = self.db
        now = db.time_in(utcnow())
        with db.write() as cur:
            cur.execute(
                "UPDATE write_ops SET state = ?, steps_done = ?, error = ?, updated_at = ? "
                "WHERE id = ?",
                (state, steps_done, error, now, op_id),
            )
            if state != COMMITTED:
                return
            rows = cur.execute("SELECT params FROM write_ops WHERE id = ?", (op_id,))
            undone = (db.json_out(rows[0][0]) or {}).get("undo_of")
            if undone is not None:
                cur.execute(
                    "UPDATE write_ops SET state = ?, updated_at = ? WHERE id = ?",
                    (UNDONE, now, int(undone)),
                )

    def set_state(self, op_id: int, state: str) -> None:
        self._set(op_id, "state", state)

    def _set(self, op_id: int, column: str, value: Any) -> None:
        with self.db.write() as cur:
            cur.execute(
                f"UPDATE write_ops SET {column} = ?, updated_at = ? WHERE id = ?",
                (value, self.db.time_in(utcnow()), op_id),
            )

    def get(self, op_id: int) -> OpRecord | None:
        found = self._ops("WHERE id = ?", (op_id,))
        return found[0] if found else None

    def unfinished(self) -> list[OpRecord]:
        """Operations a crash (or a rollback that failed) left to recover, oldest first."""
        return self._ops("WHERE state IN (?, ?) ORDER BY id", (APPLYING, FAILED))

    def finished_before(self, states: Sequence[str], cutoff: datetime) -> list[int]:
        """The operations in one of ``states`` last changed before ``cutoff``, oldest first."""
        marks = ", ".join("?" * len(states))
        with self.db.read() as cur:
            rows = cur.execute(
                f"SELECT id FROM write_ops WHERE state IN ({marks}) AND updated_at < ? ORDER BY id",
                (*states, self.db.time_in(cutoff)),
            )
        return [int(r[0]) for r in rows]

    def of_job(self, job_id: int) -> list[OpRecord]:
        """The operations a job's attempts began, oldest first."""
        return self._ops("WHERE job_id = ? ORDER BY id", (job_id,))

    def all(self, limit: int = 100) -> list[OpRecord]:
        return self._ops("ORDER BY id DESC LIMIT ?", (limit,))

    def _ops(self, where: str, params: tuple[Any, ...]) -> list[OpRecord]:
        with self.db.read() as cur:
            rows = cur.execute(f"SELECT {_OP_COLUMNS} FROM write_ops {where}", params)
        out = self.db.json_out
        return [
            OpRecord(id=r[0], operation=r[1], params=out(r[2]), state=r[3], steps_total=r[4],
                     steps_done=r[5], error=r[6], created_at=self.db.time_out(r[10]),
                     owner=r[7], job_id=r[8], beneath=tuple(out(r[9]) or ()))
            for r in rows
        ]  # fmt: skip

    def steps(self, op_id: int) -> list[Step]:
        with self.db.read() as cur:
            rows = cur.execute(
                "SELECT src, dst, dev, ino, stamp, kind, backup, digest FROM write_steps "
                "WHERE op_id = ? ORDER BY seq",
                (op_id,),
            )
        decode = os.fsdecode
        return [
            Step(decode(src), decode(dst), dev, ino, stamp, kind,
                 None if backup is None else decode(backup), digest)
            for src, dst, dev, ino, stamp, kind, backup, digest in rows
        ]  # fmt: skip
