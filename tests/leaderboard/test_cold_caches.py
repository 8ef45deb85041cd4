"""Concurrent callers of a cold cache do the work once: one directory scan per recheck, one
build per view (issue 11). The counted functions are slowed so every caller arrives while
the first is still working."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import leaderboard.store as store_module
from evaluator.storage import DataDir
from leaderboard.query import Filters, Leaderboard
from leaderboard.store import ResultStore
from tests.support.results_factory import RunSpec, write_demo_board, write_run

CALLERS = 40


def together(call: Callable[[], Any]) -> list[Any]:
    barrier = threading.Barrier(CALLERS)
    out: list[Any] = [None] * CALLERS
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            out[i] = call()
        except BaseException as exc:  # reported below, not lost in a thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(CALLERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[0]
    return out


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    data = DataDir.at(tmp_path / "var")
    write_demo_board(data)
    return data


def test_a_due_recheck_scans_once_for_forty_callers(data: DataDir, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ResultStore(data, persist=False)
    first = store.snapshot()
    scans: list[Path] = []
    real_scan = store_module._scan

    def counted(directory: Path, suffix: str) -> dict[str, Any]:
        if directory == data.results:
            scans.append(directory)
            time.sleep(0.05)
        return real_scan(directory, suffix)

    monkeypatch.setattr(store_module, "_scan", counted)
    write_run(data, RunSpec("late/arrival", harm=0.2))  # the directory changes: a rescan is due
    snaps = together(store.snapshot)
    assert len(scans) == 1
    assert {s.version for s in snaps} == {snaps[0].version} and snaps[0].version != first.version
    assert all("late/arrival" in set(s.results["model"]) for s in snaps)


def test_a_cold_view_is_built_once_and_the_others_wait(data: DataDir, monkeypatch: pytest.MonkeyPatch) -> None:
    board = Leaderboard(ResultStore(data, persist=False))
    builds: list[str] = []
    real_build = Leaderboard._build_view

    def counted(self: Leaderboard, *args: Any) -> Any:
        builds.append(args[1])
        time.sleep(0.05)
        return real_build(self, *args)

    monkeypatch.setattr(Leaderboard, "_build_view", counted)
    results = together(lambda: board.query(Filters(category="self_harm")))
    assert builds == ["self_harm"]
    assert len({id(r.view) for r in results}) == 1 and results[0].matched == 6


def test_a_failed_build_reaches_every_waiter_and_is_retried(data: DataDir, monkeypatch: pytest.MonkeyPatch) -> None:
    board = Leaderboard(ResultStore(data, persist=False))
    real_build = Leaderboard._build_view
    calls: list[int] = []

    def failing(self: Leaderboard, *args: Any) -> Any:
        calls.append(1)
        time.sleep(0.05)
        raise OSError("disk went away")

    monkeypatch.setattr(Leaderboard, "_build_view", failing)
    failures: list[str] = []

    def call() -> None:
        try:
            board.query(Filters())
        except OSError as exc:
            failures.append(str(exc))

    together(call)
    assert failures == ["disk went away"] * CALLERS and len(calls) < CALLERS
    monkeypatch.setattr(Leaderboard, "_build_view", real_build)
    assert board.query(Filters()).matched == 6  # nothing poisoned the cache
