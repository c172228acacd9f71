"""The journal's rows: one ``write_ops`` row per writing operation and its ``write_steps``."""

import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import insert, select, update

from vegafs.db.database import Database, utcnow
from vegafs.db.models import WriteOp, WriteStep

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


class Journal:
    def __init__(self, db: Database) -> None:
        self.db = db

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
        now = utcnow()
        with self.db.write() as conn:
            op_id = conn.execute(
                insert(WriteOp).returning(WriteOp.id),
                {"operation": operation, "params": params, "state": APPLYING,
                 "steps_total": len(steps), "steps_done": 0, "created_at": now,
                 "updated_at": now, "owner": owner(), "job_id": job_id,
                 "beneath": list(beneath) or None},
            ).scalar_one()  # fmt: skip
            # Straight to the driver: SQLAlchemy's per-row parameter processing cost more than
            # the inserts themselves (100,000 steps: 3.7 s of 4.7).
            mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            enc, errors = _FS_ENCODING, _FS_ERRORS  # as os.fsencode, without its type checks
            sql = f"INSERT INTO write_steps ({_STEP_COLUMNS}) VALUES ({', '.join([mark] * 10)})"
            for i in range(0, len(steps), INSERT_BATCH):
                conn.exec_driver_sql(
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
        self._set(op_id, steps_done=steps_done)

    def finish(self, op_id: int, state: str, *, steps_done: int, error: str | None = None) -> None:
        """Ends the operation in ``state``. An undo that commits marks the operation it undid
        ``undone`` in the same transaction, whether it commits as it runs or in recovery."""
        now = utcnow()
        with self.db.write() as conn:
            conn.execute(
                update(WriteOp).where(WriteOp.id == op_id).values(
                    state=state, steps_done=steps_done, error=error, updated_at=now)
            )  # fmt: skip
            if state != COMMITTED:
                return
            params = conn.execute(select(WriteOp.params).where(WriteOp.id == op_id)).scalar_one()
            undone = (params or {}).get("undo_of")
            if undone is not None:
                conn.execute(
                    update(WriteOp).where(WriteOp.id == int(undone))
                    .values(state=UNDONE, updated_at=now)
                )  # fmt: skip

    def set_state(self, op_id: int, state: str) -> None:
        self._set(op_id, state=state)

    def _set(self, op_id: int, **values: Any) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(WriteOp).where(WriteOp.id == op_id).values(**values, updated_at=utcnow())
            )

    def get(self, op_id: int) -> OpRecord | None:
        with self.db.read() as conn:
            row = conn.execute(select(WriteOp).where(WriteOp.id == op_id)).mappings().first()
        return None if row is None else _record(row)

    def unfinished(self) -> list[OpRecord]:
        """Operations a crash (or a rollback that failed) left to recover, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(WriteOp).where(WriteOp.state.in_((APPLYING, FAILED))).order_by(WriteOp.id)
            ).mappings()
            return [_record(r) for r in rows]

    def finished_before(self, states: Sequence[str], cutoff: datetime) -> list[int]:
        """The operations in one of ``states`` last changed before ``cutoff``, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(WriteOp.id)
                .where(WriteOp.state.in_(states), WriteOp.updated_at < cutoff)
                .order_by(WriteOp.id)
            )
            return [r.id for r in rows]

    def of_job(self, job_id: int) -> list[OpRecord]:
        """The operations a job's attempts began, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(WriteOp).where(WriteOp.job_id == job_id).order_by(WriteOp.id)
            ).mappings()
            return [_record(r) for r in rows]

    def all(self, limit: int = 100) -> list[OpRecord]:
        with self.db.read() as conn:
            rows = conn.execute(select(WriteOp).order_by(WriteOp.id.desc()).limit(limit))
            return [_record(r) for r in rows.mappings()]

    def steps(self, op_id: int) -> list[Step]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(WriteStep.src, WriteStep.dst, WriteStep.dev, WriteStep.ino,
                       WriteStep.stamp, WriteStep.kind, WriteStep.backup, WriteStep.digest)
                .where(WriteStep.op_id == op_id)
                .order_by(WriteStep.seq)
            )  # fmt: skip
            return [
                Step(os.fsdecode(r.src), os.fsdecode(r.dst), r.dev, r.ino, r.stamp, r.kind,
                     None if r.backup is None else os.fsdecode(r.backup), r.digest)
                for r in rows
            ]  # fmt: skip


def _record(row: Any) -> OpRecord:
    return OpRecord(
        id=row["id"],
        operation=row["operation"],
        params=row["params"],
        state=row["state"],
        steps_total=row["steps_total"],
        steps_done=row["steps_done"],
        error=row["error"],
        owner=row["owner"],
        job_id=row["job_id"],
        beneath=tuple(row["beneath"] or ()),
    )
