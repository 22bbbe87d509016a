"""Durable schedules in the home: SQLite (standard library) holding CronWorkflows and their status.

Only what Argo's controller keeps in a CronWorkflow is kept: the object itself, its ``status``
(``lastScheduledTime``, ``active``, ``succeeded``, ``failed``, ``phase``, ``conditions``) and the
list of child runs it fired (Argo finds those by label; here a table). A fire is recorded in one
transaction with the new status *before* its run starts, and the child run's name is its primary
key, so a tick can never be recorded, or started, twice.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import NbflowError

__all__ = [
    "ScheduleRecord",
    "ScheduleStore",
    "ScheduleNotFound",
    "ScheduleExists",
    "schedules_dir",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schedules (
    name TEXT PRIMARY KEY,
    cron TEXT NOT NULL,      -- the CronWorkflow object (JSON)
    source TEXT NOT NULL,    -- where its workflow comes from (JSON, see ScheduleRecord)
    anchor TEXT NOT NULL,    -- ticks count from here (created, changed or resumed)
    status TEXT NOT NULL     -- the CronWorkflow's status (JSON)
);
CREATE TABLE IF NOT EXISTS runs (
    run TEXT PRIMARY KEY,    -- <schedule>-<unix seconds of the scheduled time>
    schedule TEXT NOT NULL,
    scheduled TEXT NOT NULL, -- RFC 3339, UTC
    fired TEXT NOT NULL,
    phase TEXT NOT NULL DEFAULT '',
    finished TEXT NOT NULL DEFAULT '',
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_by_schedule ON runs (schedule, scheduled);
"""


class ScheduleNotFound(NbflowError, LookupError):
    """No schedule of that name in the home."""


class ScheduleExists(NbflowError):
    """A schedule of that name exists already."""


def schedules_dir(home: str | Path) -> Path:
    """The folder of the schedules' database and the scheduler's lock."""
    return Path(home) / "schedules"


@dataclass
class ScheduleRecord:
    """One schedule: its CronWorkflow, where its workflow comes from, and its status.

    Attributes
    ----------
    cron : dict
        The CronWorkflow (``metadata``, ``spec`` with ``workflowSpec``), the one IR.
    source : dict
        ``notebook`` (absolute path or ``None`` for a manifest), ``workflow``, ``code``
        (``"follow"``: the notebook as it is at each tick; ``"snapshot"``: the workflow
        compiled when the schedule was made, with ``sha256`` of the notebook then),
        ``workdir``, ``parameters`` (``-p`` values) and ``notify``.
    anchor : str
        RFC 3339 time from which ticks count.
    status : dict
        Argo's ``CronWorkflowStatus``.
    """

    cron: dict[str, Any]
    source: dict[str, Any]
    anchor: str
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The schedule's (CronWorkflow's) name."""
        return str(self.cron["metadata"]["name"])

    @property
    def spec(self) -> dict[str, Any]:
        """The CronWorkflow's ``spec``."""
        spec: dict[str, Any] = self.cron["spec"]
        return spec


class ScheduleStore:
    """The schedules of one home, in ``<home>/schedules/schedules.db``.

    Every method opens its own short transaction, so that the CLI, a kernel, a server and
    the scheduler may use the store at the same time from different processes.
    """

    def __init__(self, home: str | Path) -> None:
        self.dir = schedules_dir(home)
        self.path = self.dir / "schedules.db"
        self._conn: sqlite3.Connection | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        """This object's connection (created with the database on first use)."""
        if self._conn is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # a recorded fire survives a power cut
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed whole, or not at all."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def version(self) -> int:
        """Changes made through other connections since this one opened (``data_version``)."""
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    # ------------------------------------------------------------------ schedules

    def put(self, record: ScheduleRecord, *, replace: bool = False) -> None:
        """Add a schedule (``replace``: or overwrite the one of that name)."""
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        try:
            with self.transaction() as conn:
                conn.execute(
                    f"{verb} INTO schedules (name, cron, source, anchor, status) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (record.name, _dump(record.cron), _dump(record.source), record.anchor,
                     _dump(record.status)),
                )
        except sqlite3.IntegrityError:
            raise ScheduleExists(
                f"schedule {record.name} exists already: remove it first, or replace it"
            ) from None

    def get(self, name: str) -> ScheduleRecord:
        """The schedule ``name``."""
        row = self.conn.execute(
            "SELECT cron, source, anchor, status FROM schedules WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            raise ScheduleNotFound(f"no schedule {name!r} (nbflow schedule list shows them)")
        return _record(row)

    def all(self) -> list[ScheduleRecord]:
        """Every schedule, by name."""
        rows = self.conn.execute(
            "SELECT cron, source, anchor, status FROM schedules ORDER BY name"
        ).fetchall()
        return [_record(r) for r in rows]

    def update(self, name: str, **fields: Any) -> None:
        """Overwrite some of ``cron``, ``source``, ``anchor``, ``status`` of schedule ``name``."""
        with self.transaction() as conn:
            self._update(conn, name, fields)

    def _update(self, conn: sqlite3.Connection, name: str, fields: dict[str, Any]) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        values = [v if k == "anchor" else _dump(v) for k, v in fields.items()]
        cur = conn.execute(f"UPDATE schedules SET {sets} WHERE name = ?", (*values, name))
        if cur.rowcount == 0:
            raise ScheduleNotFound(f"no schedule {name!r} (nbflow schedule list shows them)")

    def remove(self, name: str) -> None:
        """Forget schedule ``name`` (its runs stay in the run store)."""
        with self.transaction() as conn:
            if conn.execute("DELETE FROM schedules WHERE name = ?", (name,)).rowcount == 0:
                raise ScheduleNotFound(f"no schedule {name!r} (nbflow schedule list shows them)")
            conn.execute("DELETE FROM runs WHERE schedule = ?", (name,))

    # ------------------------------------------------------------------ runs

    def record_fire(
        self, name: str, run: str, scheduled: str, fired: str, status: dict[str, Any]
    ) -> bool:
        """Record that schedule ``name`` fired run ``run``, with its new status, atomically.

        Returns ``False`` (and changes nothing) when that run was fired already.
        """
        return self.record_fires([(name, run, scheduled, fired, status)])[0]

    def record_fires(self, fires: list[tuple[str, str, str, str, dict[str, Any]]]) -> list[bool]:
        """:meth:`record_fire` for many ``(name, run, scheduled, fired, status)`` in one
        transaction (one disk sync when 1,000 schedules fire at once)."""
        out = []
        with self.transaction() as conn:
            for name, run, scheduled, fired, status in fires:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO runs (run, schedule, scheduled, fired) "
                    "VALUES (?, ?, ?, ?)", (run, name, scheduled, fired))
                out.append(cur.rowcount == 1)
                if cur.rowcount == 1:
                    self._update(conn, name, {"status": status})
        return out

    def finish_runs(self, ended: list[tuple[str, str, str]],
                    statuses: dict[str, dict[str, Any]]) -> None:
        """Record how runs ended (``(run, phase, finishedAt)``) and the schedules' new
        statuses, in one transaction."""
        with self.transaction() as conn:
            conn.executemany("UPDATE runs SET phase = ?, finished = ? WHERE run = ?",
                             [(phase, finished, run) for run, phase, finished in ended])
            for name, status in statuses.items():
                self._update(conn, name, {"status": status})

    def mark_deleted(self, runs: list[str]) -> None:
        """Record that the history limits deleted ``runs``."""
        with self.transaction() as conn:
            conn.executemany("UPDATE runs SET deleted = 1 WHERE run = ?", [(r,) for r in runs])

    def runs(self, name: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """The runs schedule ``name`` fired, newest first."""
        rows = self.conn.execute(
            "SELECT run, scheduled, fired, phase, finished, deleted FROM runs "
            "WHERE schedule = ? ORDER BY scheduled DESC",
            (name,),
        ).fetchall()
        keys = ("run", "scheduledTime", "firedAt", "phase", "finishedAt", "deleted")
        out = [dict(zip(keys, row)) for row in rows]
        for r in out:
            r["deleted"] = bool(r["deleted"])
        return [r for r in out if include_deleted or not r["deleted"]]

    def fire_of(self, run: str) -> dict[str, Any] | None:
        """The fire record of ``run`` (``schedule``, ``scheduledTime``), if it is one."""
        row = self.conn.execute(
            "SELECT schedule, scheduled FROM runs WHERE run = ?", (run,)
        ).fetchone()
        return None if row is None else {"schedule": row[0], "scheduledTime": row[1]}


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _record(row: tuple[str, str, str, str]) -> ScheduleRecord:
    return ScheduleRecord(json.loads(row[0]), json.loads(row[1]), row[2], json.loads(row[3]))
