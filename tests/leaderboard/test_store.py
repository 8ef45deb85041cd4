"""Loading result rows and request records: tolerant, typed, cached by file mtimes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import leaderboard.store as store_module
from evaluator.results import RESULT_COLUMNS
from evaluator.storage import DataDir
from leaderboard.store import ResultStore, load_results, model_metadata, params_in_billions
from tests.support.results_factory import RunSpec, rows_for, table_of, write_request, write_run


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    return DataDir.at(tmp_path / "var")


def _touch_later(path: Path) -> None:
    """Give a rewritten file a visibly different mtime even on coarse-clock filesystems."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))


def test_missing_directory_is_an_empty_table_with_every_column(data: DataDir) -> None:
    frame = ResultStore(data).results()
    assert frame.empty
    assert list(frame.columns) == list(RESULT_COLUMNS)


def test_rows_of_every_file_are_loaded_with_contract_types(data: DataDir) -> None:
    write_run(data, RunSpec("org/a", categories=("self_harm", "no_crisis")))
    write_run(data, RunSpec("org/b", categories=("self_harm",)))
    frame = ResultStore(data).results()
    assert len(frame) == 3 + 2  # categories + overall per run
    assert list(frame.columns[: len(RESULT_COLUMNS)]) == list(RESULT_COLUMNS)
    assert str(frame["evaluated_at"].dtype).startswith("datetime64")
    assert frame["harm_rate"].dtype == "float64"
    assert set(frame["model"]) == {"org/a", "org/b"}


def test_repeated_loads_reuse_the_cache_and_see_new_changed_and_removed_files(
    data: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    real = store_module._read_results
    monkeypatch.setattr(store_module, "_read_results", lambda p: reads.append(p.name) or real(p))
    first = write_run(data, RunSpec("org/a", categories=("self_harm",), run_id="r1"))
    store = ResultStore(data, recheck_seconds=3600)
    frame = store.results()
    assert store.results() is frame  # unchanged directory: no scan, same object
    assert store.results(force=True) is frame  # scanned, nothing changed: nothing re-read
    assert reads == ["r1.parquet"]

    write_run(data, RunSpec("org/b", categories=("self_harm",), run_id="r2"))
    frame = store.results()
    assert set(frame["model"]) == {"org/a", "org/b"}
    assert reads == ["r1.parquet", "r2.parquet"]  # only the new file

    write_run(data, RunSpec("org/a-renamed", categories=("self_harm",), run_id="r1"))
    _touch_later(first)
    assert set(store.results(force=True)["model"]) == {"org/a-renamed", "org/b"}
    first.unlink()
    assert set(store.results(force=True)["model"]) == {"org/b"}


def test_an_unreadable_file_is_reported_and_skipped_not_fatal(data: DataDir) -> None:
    write_run(data, RunSpec("org/a", categories=("self_harm",)))
    data.results.mkdir(parents=True, exist_ok=True)
    (data.results / "broken.parquet").write_bytes(b"not parquet")
    store = ResultStore(data)
    frame = store.results()
    assert set(frame["model"]) == {"org/a"}
    assert len(store.problems) == 1
    assert store.problems[0].startswith("broken.parquet: ")
    assert str(data.root) not in store.problems[0]  # server paths stay off the page
    with pytest.raises(store_module.LoadError, match=r"broken\.parquet"):
        load_results(data, strict=True)


def test_files_from_older_or_newer_writers_combine(data: DataDir) -> None:
    rows = rows_for(RunSpec("org/old", categories=("self_harm",), run_id="old"))
    # An older writer: fewer columns, an int32 count and no judge_official.
    keep = [c for c in RESULT_COLUMNS if not c.startswith(("harm_rate_", "judge_official"))]
    table = table_of(rows).select(keep)
    table = table.set_column(keep.index("n"), "n", table["n"].cast(pa.int32()))
    data.results.mkdir(parents=True)
    pq.write_table(table, data.results / "old.parquet")
    # A newer writer: an extra column nobody knows yet.
    write_run(data, [{**r, "new_figure": "x"} for r in rows_for(RunSpec("org/new", categories=("self_harm",)))])
    frame = ResultStore(data).results()
    assert set(frame["model"]) == {"org/old", "org/new"}
    assert "new_figure" in frame.columns
    old = frame[frame["model"] == "org/old"]
    assert old["judge_official"].isna().all() and old["n"].notna().all()


def test_a_restarted_store_reads_only_what_changed_since_its_snapshot(
    data: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(5):
        write_run(data, RunSpec(f"org/m{i}", categories=("self_harm",), run_id=f"r{i}"))
    first = ResultStore(data)
    first._results.consolidate_after = 2  # type: ignore[attr-defined]
    expected = first.results()
    reads: list[str] = []
    real = store_module._read_results
    monkeypatch.setattr(store_module, "_read_results", lambda p: reads.append(p.name) or real(p))
    write_run(data, RunSpec("org/late", categories=("self_harm",), run_id="r9"))
    again = ResultStore(data).results()
    assert reads == ["r9.parquet"]
    assert len(again) == len(expected) + 2
    # The snapshot lives in the private cache area, never next to the public results.
    assert (data.cache / "leaderboard" / "results-snapshot.parquet").exists()
    assert not any("snapshot" in p.name for p in data.public_files())


def test_a_damaged_snapshot_only_means_a_slower_start(data: DataDir) -> None:
    write_run(data, RunSpec("org/a", categories=("self_harm",)))
    snapshot = data.cache / "leaderboard" / "results-snapshot.parquet"
    snapshot.parent.mkdir(parents=True)
    snapshot.write_bytes(b"garbage")
    assert set(ResultStore(data).results()["model"]) == {"org/a"}


def test_request_metadata_newest_non_empty_values_win(data: DataDir) -> None:
    write_request(data, "org/a", params=7_000_000_000, license=None, submitted_at="2025-01-01T00:00:00+00:00")
    write_request(data, "org/a", params=None, license="mit", submitted_at="2025-02-01T00:00:00+00:00")
    write_request(data, "org/b", params=1.5, license="apache-2.0", model_type="open-weight")
    data.requests.joinpath("junk.json").write_text("[1, 2]")
    store = ResultStore(data)
    meta = store.metadata()
    assert meta["org/a"].params_b == pytest.approx(7.0)
    assert meta["org/a"].license == "mit"
    assert meta["org/b"].params_b == pytest.approx(1.5)
    assert any(p.startswith("junk.json") for p in store.problems)


@pytest.mark.parametrize(
    ("raw", "billions"),
    [(7e9, 7.0), (135_000_000, 0.135), (70, 70.0), (0.5, 0.5), ("8", 8.0), (None, None), (-1, None), (True, None)],
)
def test_parameters_are_read_as_counts_or_billions(raw: object, billions: float | None) -> None:
    got = params_in_billions(raw)
    assert got == (pytest.approx(billions) if billions is not None else None)


def test_metadata_ignores_records_without_a_model() -> None:
    assert model_metadata([{"params": 7}, {"model": ""}, {"model": "x", "license": 3}]) == {
        "x": store_module.ModelMeta(None, None, None)
    }


def test_the_directory_is_rescanned_after_recheck_seconds(data: DataDir) -> None:
    path = write_run(data, RunSpec("org/a", categories=("self_harm",), run_id="r1"))
    store = ResultStore(data, recheck_seconds=0.05)
    store.results()
    # Rewritten in place (no rename): the directory does not change, only the file.
    pq.write_table(table_of(rows_for(RunSpec("org/z", categories=("self_harm",), run_id="r1"))), path)
    _touch_later(path)
    time.sleep(0.06)
    assert set(store.results()["model"]) == {"org/z"}
