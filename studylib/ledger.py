"""The trial ledger: an embedded SQLite file in the study's output folder.

Every finished trial is committed the moment it ends (WAL journal, ``synchronous=FULL``), so a
crash or ``kill -9`` loses at most the trials that were still running. A trial is keyed by
(config, dataset fingerprint, budget, seed): the same key is never trained twice — it is served
from the ledger. A *study* (space + strategy + seed + dataset + budget) lists the keys it
proposed, in order; re-running the same study replays its strategy, answers the known keys from
the ledger and carries on where it stopped.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import sqlite3
import time
from pathlib import Path
from typing import Iterable

import pandas as pd

from .errors import StudyError

LOCK_TIMEOUT = 60.0  # seconds a writer waits for another process's lock

RESULT_FIELDS = ("best_acc", "best_loss", "best_train_acc", "best_train_loss", "epochs", "best_epoch",
                 "test_acc", "test_loss", "params", "wall_time", "status", "error")

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
    history TEXT, host TEXT, pid INTEGER, finished_at REAL
);
CREATE TABLE IF NOT EXISTS studies (
    study_id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    provenance TEXT,
    created_at REAL
);
CREATE TABLE IF NOT EXISTS study_trials (
    study_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (study_id, number),
    UNIQUE (study_id, key)
);
"""


def trial_key(config: dict, dataset_hash: str, budget: dict, seed: int) -> str:
    blob = json.dumps({"config": config, "data": dataset_hash, "budget": budget, "seed": int(seed)},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class Ledger:
    """A SQLite trial ledger. Safe for several processes: writers wait on SQLite's lock."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.conn = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT, isolation_level=None)
            self._set_up()
        except sqlite3.DatabaseError as e:
            raise StudyError(f"ledger {self.path} is not a usable SQLite file ({e})") from None

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
                return
            except sqlite3.OperationalError as e:
                busy = "locked" in str(e) or "busy" in str(e)
                if not busy or time.monotonic() > deadline:
                    raise
                if self.conn.in_transaction:
                    self.conn.rollback()
                time.sleep(delay)
                delay = min(delay * 2, 0.25)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- trials -----------------------------------------------------------------------------
    def get(self, key: str) -> dict | None:
        cur = self.conn.execute("SELECT * FROM trials WHERE key = ?", (key,))
        row = cur.fetchone()
        if row is None:
            return None
        return self._row(cur.description, row)

    @staticmethod
    def _row(description, row) -> dict:
        d = {col[0]: v for col, v in zip(description, row)}
        d["config"] = json.loads(d["config"])
        d["budget"] = json.loads(d["budget"])
        d["history"] = json.loads(d["history"] or "{}")
        for f in ("best_acc", "best_loss", "best_train_acc", "best_train_loss", "test_acc", "test_loss"):
            if d[f] is None:
                d[f] = float("nan")
        return d

    def record(self, key: str, config: dict, seed: int, dataset: str, budget: dict, result: dict,
               host: str | None = None, pid: int | None = None) -> None:
        """Write one finished trial durably (one transaction). A key already present is kept."""
        values = {f: _clean(result.get(f)) for f in RESULT_FIELDS}
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute(
                f"INSERT OR IGNORE INTO trials (key, config, seed, dataset, budget, {', '.join(RESULT_FIELDS)},"
                " history, host, pid, finished_at) VALUES (?, ?, ?, ?, ?, "
                f"{', '.join('?' for _ in RESULT_FIELDS)}, ?, ?, ?, ?)",
                (key, json.dumps(config, sort_keys=True), int(seed), dataset, json.dumps(budget, sort_keys=True),
                 *values.values(), json.dumps(result.get("history", {})),
                 host or socket.gethostname(), pid or os.getpid(), time.time()),
            )

    def delete(self, key: str) -> None:
        with self.conn:
            self.conn.execute("DELETE FROM trials WHERE key = ?", (key,))

    # -- studies ----------------------------------------------------------------------------
    def open_study(self, study_id: str, spec: dict, provenance: dict) -> None:
        with self.conn:
            self.conn.execute("INSERT OR IGNORE INTO studies VALUES (?, ?, ?, ?)",
                              (study_id, json.dumps(spec, sort_keys=True, default=str),
                               json.dumps(provenance, default=str), time.time()))

    def study_keys(self, study_id: str) -> list[str]:
        cur = self.conn.execute("SELECT key FROM study_trials WHERE study_id = ? ORDER BY number", (study_id,))
        return [r[0] for r in cur.fetchall()]

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

    def studies(self) -> list[dict]:
        cur = self.conn.execute("SELECT study_id, spec, provenance, created_at FROM studies ORDER BY created_at")
        return [{"study_id": s, "spec": json.loads(sp), "provenance": json.loads(p or "{}"), "created_at": t}
                for s, sp, p, t in cur.fetchall()]

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
        return to_frame(rows)


def to_frame(rows: Iterable[dict]) -> pd.DataFrame:
    records = []
    for r in rows:
        rec = {"trial": r.get("number")}
        rec.update(r["config"])
        rec.update({f: r.get(f) for f in RESULT_FIELDS})
        rec.update({"seed": r.get("seed"), "dataset": r.get("dataset"), "host": r.get("host"),
                    "pid": r.get("pid"), "key": r.get("key"), "study_id": r.get("study_id")})
        records.append(rec)
    return pd.DataFrame.from_records(records)


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
    tmp = path.with_name(path.name + ".tmp")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)
