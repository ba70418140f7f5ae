"""The trial ledger: an embedded SQLite file in the study's output folder.

Every finished trial is committed the moment it ends (WAL journal, ``synchronous=FULL``), so a
crash or ``kill -9`` loses at most the trials that were still running. A trial is keyed by
(config, dataset fingerprint, budget, seed, trainer code fingerprint): the same key is never
trained twice — it is served from the ledger. A *study* (space + strategy + seed + dataset +
budget) lists the keys it proposed, in order, and records the trainer fingerprint its keys use
(plus every code change a ``--allow-code-change`` run accepted); re-running the same study
replays its strategy, answers the known keys from the ledger and carries on where it stopped.
Rows go in and out as :class:`~studylib.trial.Trial` objects. :class:`MemoryLedger` is the same
interface in a dict (the tabular benchmark's thousands of short studies).
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from pathlib import Path
from typing import Iterable

import pandas as pd

from .atomic import write_with
from .errors import StudyError
from .trial import RESULT_FIELDS, Trial

LOCK_TIMEOUT = 60.0  # seconds a writer waits for another process's lock

SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    key TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    seed INTEGER NOT NULL,
    dataset TEXT NOT NULL,
    budget TEXT NOT NULL,
    best_acc REAL, best_loss REAL, best_train_acc REAL, best_train_loss REAL,
    epochs INTEGER, best_epoch INTEGER, test_acc REAL, test_loss REAL, params INTEGER,
    wall_time REAL, status TEXT NOT NULL, error TEXT,
    history TEXT, host TEXT, pid INTEGER, finished_at REAL, extra TEXT
);
CREATE TABLE IF NOT EXISTS studies (
    study_id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    provenance TEXT,
    created_at REAL,
    fingerprint TEXT,
    code_changes TEXT
);
CREATE TABLE IF NOT EXISTS study_trials (
    study_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (study_id, number),
    UNIQUE (study_id, key)
);
"""
#: Columns added since the first ledgers: (table, column, type); added on open when missing.
ADDED_COLUMNS = (("trials", "extra", "TEXT"), ("studies", "fingerprint", "TEXT"), ("studies", "code_changes", "TEXT"))


class CodeChanged(StudyError):
    """The study in the ledger was run with other trainer code (CLI exit code 2)."""


class Ledger:
    """A SQLite trial ledger. Safe for several processes: writers wait on SQLite's lock."""

    def __init__(self, path: str | Path, read_only: bool = False):
        """Open (and create) the ledger ``path``; ``read_only``: open an existing one without
        writing anything (no schema, no journal mode change; the journal files SQLite makes beside
        a ledger that had none are removed again on close), as readers of other studies' ledgers do;
        in a folder that cannot be written (an archive), as an unchanging file (SQLite's
        ``immutable``), unless its journal still holds changes. (Another user's study writing a
        ledger in a folder this reader cannot write may still be read mid-change then: a short
        read, rare, and retried first.)"""
        self.path = Path(path)
        self._journal = [self.path.with_name(self.path.name + end) for end in ("-wal", "-shm")]
        self._tidy = read_only and not any(p.exists() for p in self._journal)
        try:
            if read_only:
                self.conn = self._open_read_only()
                return
            self.conn = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT, isolation_level=None)
            self._set_up()
        except sqlite3.DatabaseError as e:
            # a damaged file read: the empty journal files its reading made go again (not after
            # "database is locked": they may be a writer's that has just begun)
            if self._tidy and not isinstance(e, sqlite3.OperationalError):
                self._drop_empty_journal()
            raise StudyError(f"ledger {self.path} is not a usable SQLite file ({e})") from None

    def _open_read_only(self, tries: int = 5) -> sqlite3.Connection:
        for attempt in range(tries):
            conn = sqlite3.connect(self._uri("mode=ro"), uri=True, timeout=LOCK_TIMEOUT)
            try:
                conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone()
                return conn
            except sqlite3.DatabaseError as e:  # a WAL file's readers make its -shm beside it: not in an archive
                conn.close()
                if not isinstance(e, sqlite3.OperationalError) or (
                        "unable to open" not in str(e) and "readonly" not in str(e)):
                    raise
            time.sleep(0.02 * (attempt + 1))  # a writer in another process opening or closing it: again
        wal = self._journal[0]
        if wal.is_file() and wal.stat().st_size:
            raise StudyError(f"ledger {self.path} cannot be read from here: its folder cannot be written and its "
                             f"journal {wal.name} holds changes not yet in it (a study may be writing it: try again, "
                             "or open it where its folder can be written)")
        return sqlite3.connect(self._uri("mode=ro&immutable=1"), uri=True, timeout=LOCK_TIMEOUT)

    def _uri(self, query: str) -> str:
        """The ledger as an SQLite URI (its path percent-encoded: a ``?`` or ``#`` in it is a name)."""
        return f"{self.path.absolute().as_uri()}?{query}"

    def _set_up(self) -> None:
        # Switching a fresh file to WAL and creating the schema can fail with "database is locked"
        # at once, without waiting, when other processes open the same new file at the same moment
        # (SQLite's deadlock avoidance skips the busy handler); retry those until LOCK_TIMEOUT.
        deadline = time.monotonic() + LOCK_TIMEOUT
        delay = 0.005
        while True:
            try:
                mode = self.conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if mode != "wal":  # another process held the file while we asked
                    raise sqlite3.OperationalError(f"database is locked (journal mode {mode})")
                self.conn.execute("PRAGMA synchronous=FULL")
                self.conn.executescript(SCHEMA)
                self._add_columns()
                return
            except sqlite3.OperationalError as e:
                busy = "locked" in str(e) or "busy" in str(e)
                if not busy or time.monotonic() > deadline:
                    raise
                if self.conn.in_transaction:
                    self.conn.rollback()
                time.sleep(delay)
                delay = min(delay * 2, 0.25)

    def _add_columns(self) -> None:
        for table, column, kind in ADDED_COLUMNS:
            have = {r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                try:
                    self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
                except sqlite3.OperationalError as e:  # another process added it first
                    if "duplicate column" not in str(e):
                        raise

    def close(self) -> None:
        self.conn.close()
        if self._tidy and any(p.exists() for p in self._journal):
            self._remove_journal()

    def _drop_empty_journal(self) -> None:
        """Remove the journal files a failed read of a damaged ledger made (none existed before):
        an empty ``-wal`` and its ``-shm``; a ``-wal`` holding anything stays, with its ``-shm``."""
        wal, shm = self._journal
        try:
            if wal.exists() and wal.stat().st_size:
                return
            wal.unlink(missing_ok=True)
            shm.unlink(missing_ok=True)
        except OSError:
            pass  # a folder that cannot be written: nothing was made there

    def _remove_journal(self) -> None:
        """Remove the journal files a read-only reader made beside a ledger that had none: a
        read-only connection cannot, a writing one does when it is the last to close (checkpointing
        first what a writer may have added meanwhile; one still open elsewhere keeps them). The
        ledger is not created if it was moved away meanwhile (``mode=rw``)."""
        try:
            conn = sqlite3.connect(self._uri("mode=rw"), uri=True, timeout=0.1)
            try:
                conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            pass  # a folder that cannot be written, the ledger gone, or a writer busy: they stay

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- trials -----------------------------------------------------------------------------
    def get(self, key: str) -> Trial | None:
        cur = self.conn.execute("SELECT * FROM trials WHERE key = ?", (key,))
        row = cur.fetchone()
        return None if row is None else Trial.from_row(self._row(cur.description, row))

    @staticmethod
    def _row(description, row) -> dict:
        d = {col[0]: v for col, v in zip(description, row)}
        for f in ("config", "budget", "history", "extra"):
            d[f] = json.loads(d.get(f) or "{}")
        return d

    def record(self, trial: Trial) -> None:
        """Write one finished trial durably (one transaction). A key already present is kept."""
        row = trial.to_row()
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute(
                f"INSERT OR IGNORE INTO trials (key, config, seed, dataset, budget, {', '.join(RESULT_FIELDS)},"
                " history, host, pid, finished_at, extra) VALUES (?, ?, ?, ?, ?, "
                f"{', '.join('?' for _ in RESULT_FIELDS)}, ?, ?, ?, ?, ?)",
                (row["key"], json.dumps(row["config"], sort_keys=True), row["seed"], row["dataset"],
                 json.dumps(row["budget"], sort_keys=True), *(row[f] for f in RESULT_FIELDS),
                 json.dumps(row["history"]), row["host"] or socket.gethostname(), row["pid"] or os.getpid(),
                 time.time(), json.dumps(row["extra"]) if row["extra"] else None),
            )

    def count(self) -> int:
        """How many trials the ledger holds (:class:`StudyError` when the file is not a ledger)."""
        try:
            return self.conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
        except sqlite3.Error as e:
            raise StudyError(f"{self.path} is not a studylib ledger ({e})") from None

    def config_names(self) -> list[str]:
        """The hyperparameters of this ledger: the keys of its trials' configs, in the order first
        met (keys starting with ``_`` are the loop's own)."""
        names: dict[str, None] = {}
        for (config,) in self.conn.execute("SELECT DISTINCT config FROM trials"):
            names.update(dict.fromkeys(k for k in json.loads(config) if not k.startswith("_")))
        return list(names)

    def histories(self, studies: Iterable[str] | None = None, ok_only: bool = False) -> list[tuple]:
        """``(key, config, seed, history)`` of every trial (only those of ``studies``; only
        finished ones with ``ok_only``), in the order they finished; ``config`` and ``history``
        (per-epoch metrics) decoded; ``seed`` the one it trained with (a replicate's:
        :func:`~studylib.fidelity.training_seed`). An unknown study or an unreadable file:
        :class:`StudyError`."""
        from .fidelity import training_seed

        studies = list(studies or [])
        query = f"SELECT key, config, seed, history, {self._column('trials', 'extra')} FROM trials WHERE 1"
        if ok_only:
            query += " AND status = 'ok'"
        try:
            if studies:
                known = {r[0] for r in self.conn.execute("SELECT study_id FROM studies")}
                unknown = [s for s in studies if s not in known]
                if unknown:
                    listed = ", ".join(sorted(known)[:5]) + (", ..." if len(known) > 5 else "")
                    raise StudyError(f"--study {unknown[0]}: no such study in {self.path} (it has: {listed or 'none'})")
                marks = ",".join("?" * len(studies))
                query += f" AND key IN (SELECT key FROM study_trials WHERE study_id IN ({marks}))"
            rows = self.conn.execute(query + " ORDER BY finished_at", studies).fetchall()
        except sqlite3.Error as e:
            raise StudyError(f"cannot read {self.path}: {e}") from None
        return [(k, json.loads(c), training_seed(s, json.loads(x or "{}").get("run")), json.loads(h or "{}"))
                for k, c, s, h, x in rows]

    def delete(self, key: str) -> None:
        with self.conn:
            self.conn.execute("DELETE FROM trials WHERE key = ?", (key,))

    # -- studies ----------------------------------------------------------------------------
    def open_study(self, study_id: str, spec: dict, provenance: dict, fingerprint: str | None = None,
                   allow_code_change: bool = False, check_only: bool = False) -> str | None:
        """Create the study, or check that the one in the ledger ran with the trainer code
        ``fingerprint``; returns the fingerprint its trial keys use (None: a study recorded before
        fingerprints). Another fingerprint raises :class:`CodeChanged` unless
        ``allow_code_change``, which records the change and keeps the study's keys.
        ``check_only``: raise or return, but write nothing."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            row = self.conn.execute("SELECT fingerprint, code_changes, created_at FROM studies WHERE study_id = ?",
                                    (study_id,)).fetchone()
            if row is None and check_only:
                return fingerprint
            if row is None:
                self.conn.execute("INSERT INTO studies (study_id, spec, provenance, created_at, fingerprint) "
                                  "VALUES (?, ?, ?, ?, ?)", (study_id, json.dumps(spec, sort_keys=True, default=str),
                                                             json.dumps(provenance, default=str), time.time(),
                                                             fingerprint))
                return fingerprint
            recorded, changes = row[0], json.loads(row[1] or "[]")
            accepted = {recorded} | {c["to"] for c in changes}
            if fingerprint is None or fingerprint in accepted:
                return recorded
            if not allow_code_change:
                was = recorded or "unknown (before fingerprints)"
                raise CodeChanged(
                    f"study {study_id} in {self.path} was run with trainer {was}, this code is {fingerprint}: "
                    "re-run with --allow-code-change to continue it anyway (recorded in the ledger) or use a new --out")
            if check_only:
                return recorded
            changes.append({"from": recorded, "to": fingerprint, "at": time.time()})
            self.conn.execute("UPDATE studies SET code_changes = ? WHERE study_id = ?",
                              (json.dumps(changes), study_id))
            return recorded

    def study_keys(self, study_id: str) -> list[str]:
        cur = self.conn.execute("SELECT key FROM study_trials WHERE study_id = ? ORDER BY number", (study_id,))
        return [r[0] for r in cur.fetchall()]

    def trial_number(self, study_id: str, key: str) -> int | None:
        """The 1-based number of ``key`` in the study (its ``trial`` in ``trials.csv``), None if not in it."""
        row = self.conn.execute("SELECT number FROM study_trials WHERE study_id = ? AND key = ?",
                                (study_id, key)).fetchone()
        return row[0] if row else None

    def add_to_study(self, study_id: str, key: str) -> int:
        """Append ``key`` to the study (idempotent); returns its 1-based trial number."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            row = self.conn.execute("SELECT number FROM study_trials WHERE study_id = ? AND key = ?",
                                    (study_id, key)).fetchone()
            if row:
                return row[0]
            n = self.conn.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM study_trials WHERE study_id = ?",
                                  (study_id,)).fetchone()[0]
            self.conn.execute("INSERT INTO study_trials VALUES (?, ?, ?)", (study_id, n, key))
            return n

    def _column(self, table: str, name: str) -> str:
        """``name``, or NULL where a ledger of an older version, opened read-only (so not given the
        columns added since: ``ADDED_COLUMNS``), lacks it."""
        return name if name in {r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")} else "NULL"

    def studies(self) -> list[dict]:
        cur = self.conn.execute(f"SELECT study_id, spec, provenance, created_at, {self._column('studies', 'fingerprint')}, "
                                f"{self._column('studies', 'code_changes')} FROM studies ORDER BY created_at, study_id")
        return [{"study_id": s, "spec": json.loads(sp), "provenance": json.loads(p or "{}"), "created_at": t,
                 "fingerprint": f, "code_changes": json.loads(c or "[]")}
                for s, sp, p, t, f, c in cur.fetchall()]

    # -- export -----------------------------------------------------------------------------
    def frame(self, study_id: str | None = None) -> pd.DataFrame:
        """One row per trial (of one study, in proposal order, or every trial): hyperparameters
        as columns by their studylib names, then the result fields."""
        if study_id is None:
            cur = self.conn.execute("SELECT NULL AS study_id, rowid AS number, * FROM trials ORDER BY finished_at")
        else:
            cur = self.conn.execute(
                "SELECT s.study_id, s.number, t.* FROM study_trials s JOIN trials t ON s.key = t.key "
                "WHERE s.study_id = ? ORDER BY s.number", (study_id,))
        rows = [self._row(cur.description, r) for r in cur.fetchall()]
        return to_frame((r["number"], r["study_id"], Trial.from_row(r)) for r in rows)

    def folder_frame(self) -> pd.DataFrame:
        """Every study's trials, grouped by study (in the order the studies were created), each
        in proposal order, with a ``study_id`` column: the folder's ``trials.csv``."""
        frames = [self.frame(s["study_id"]) for s in self.studies()]
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else to_frame(())


def to_frame(rows: Iterable[tuple[int | None, str | None, Trial]]) -> pd.DataFrame:
    """A frame of ``(trial number, study_id, Trial)`` rows (the Trial's CSV row)."""
    return pd.DataFrame.from_records([{"trial": n, **t.to_csv_row(), "study_id": sid} for n, sid, t in rows])


class MemoryLedger:
    """The :class:`Ledger` interface the study loop uses, in memory (nothing is written)."""

    def __init__(self):
        self.trials: dict[str, Trial] = {}
        self.keys: dict[str, list[str]] = {}

    def get(self, key: str) -> Trial | None:
        return self.trials.get(key)

    def record(self, trial: Trial) -> None:
        self.trials.setdefault(trial.key, trial)

    def add_to_study(self, study_id: str, key: str) -> int:
        keys = self.keys.setdefault(study_id, [])
        keys.append(key)  # the loop adds a key once
        return len(keys)

    def study_trials(self, study_id: str) -> list[Trial]:
        return [self.trials[k] for k in self.keys.get(study_id, ()) if k in self.trials]

    def close(self) -> None:
        pass


def paper_csv_frame(df: pd.DataFrame, paper_names: dict[str, str]) -> pd.DataFrame:
    """Rename to the paper's Appendix column names (``epochs`` -> ``no_epochs``) and order the
    columns as the appendices do: ``trial``, the paper's columns alphabetically, then ours."""
    out = df.rename(columns={**paper_names, "epochs": "no_epochs"})
    paper_cols = sorted(set(paper_names.values()) | {"best_acc", "best_loss", "best_train_acc",
                                                     "best_train_loss", "no_epochs"})
    paper_cols = [c for c in paper_cols if c in out.columns]
    ours = [c for c in out.columns if c not in paper_cols and c != "trial"]
    return out[(["trial"] if "trial" in out.columns else []) + paper_cols + ours]


def write_csv_atomic(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` to ``path`` whole or not at all (:func:`studylib.atomic.write_with`: studies
    sharing a folder export its ``trials.csv`` at the same time)."""
    write_with(path, lambda tmp: df.to_csv(tmp, index=False))
