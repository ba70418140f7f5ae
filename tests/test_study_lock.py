"""The per-study lock: one process at a time, and no hidden file left after a clean release."""
from __future__ import annotations

import fcntl
import os

import pytest

from studylib.errors import StudyError
from studylib.outdir import StudyLock


def test_release_removes_the_lock_file_and_the_study_can_be_locked_again(tmp_path):
    a = StudyLock(tmp_path, "s1").acquire()
    assert a.path.read_text().startswith(f"pid {os.getpid()} ")
    with pytest.raises(StudyError, match=rf"study s1 is already running .*pid {os.getpid()}"):
        StudyLock(tmp_path, "s1").acquire()
    assert a.path.exists()  # a refused acquirer leaves the holder's file alone
    other = StudyLock(tmp_path, "s2").acquire()  # another study of the folder is independent
    a.release()
    assert not a.path.exists() and other.path.exists()
    other.release()
    assert list(tmp_path.iterdir()) == []
    b = StudyLock(tmp_path, "s1").acquire()
    b.release()
    assert list(tmp_path.iterdir()) == []


def test_an_acquirer_that_opened_the_file_before_it_was_deleted_does_not_hold_a_stale_lock(tmp_path, monkeypatch):
    a = StudyLock(tmp_path, "s").acquire()
    stale = os.open(a.path, os.O_RDWR)  # opened while `a` holds it, locked only after `a` released
    real_open = os.open
    opened = []

    def open_stale_first(path, flags, mode=0o777):
        opened.append(path)
        return os.dup(stale) if len(opened) == 1 else real_open(path, flags, mode)

    a.release()
    monkeypatch.setattr(os, "open", open_stale_first)
    b = StudyLock(tmp_path, "s").acquire()
    monkeypatch.setattr(os, "open", real_open)
    assert len(opened) == 2  # the deleted file was locked, noticed, and the path opened again
    assert b.path.exists() and os.fstat(b.fd).st_ino == os.stat(b.path).st_ino
    with pytest.raises(StudyError, match="already running"):  # b's lock is the one on the path
        StudyLock(tmp_path, "s").acquire()
    fcntl.flock(stale, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the stale inode is nobody's lock any more
    os.close(stale)
    b.release()
    assert list(tmp_path.iterdir()) == []


def test_a_study_that_fails_before_its_loop_releases_its_lock(tmp_path, monkeypatch):
    import studylib.study as study

    spec, data = study.prepare("round1", trials=1, train_size=60, val_size=30, test_size=30)

    def broken(*args, **kwargs):
        raise RuntimeError("no objective")

    monkeypatch.setattr(study, "TrainingObjective", broken)
    with pytest.raises(RuntimeError, match="no objective"):
        study.run_study(spec, data, tmp_path, executor="inline", progress=False)
    assert not list(tmp_path.glob(".*.lock"))  # released: the next run is not told "already running"
    StudyLock(tmp_path, spec.study_id(data.fingerprint)).acquire().release()
