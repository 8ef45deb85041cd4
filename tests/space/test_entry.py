"""`python app.py`: seeds the baselines on a fresh data directory, honours GRADIO_SERVER_*."""

from __future__ import annotations

from pathlib import Path

import httpx

from evaluator.storage import DataDir
from leaderboard.query import Filters, Leaderboard
from leaderboard.store import ResultStore
from tests.space.conftest import app_process


def test_a_fresh_data_directory_gets_the_baselines(tmp_path: Path) -> None:
    from app import has_results, seed_baselines  # the repository root is on sys.path

    data = DataDir.at(tmp_path / "var")
    assert not has_results(data)
    seed_baselines(data)
    result = Leaderboard(ResultStore(data)).query(Filters())
    assert set(result.rows["model"]) == {"baseline:refusal", "baseline:template"}
    assert result.board is not None and result.board.set_name == "public-sample" and not result.board.official
    # They went through the real queue and worker: finished request records, publicly readable.
    from submissions import Queue, Settings

    records = Queue.local(data, Settings.from_env()).records()
    assert sorted((r.spec, r.status) for r in records) == [
        ("baseline:refusal", "FINISHED"),
        ("baseline:template", "FINISHED"),
    ]
    before = sorted(p.name for p in data.results.iterdir())
    seed_baselines(data)  # results exist: nothing is run again
    assert sorted(p.name for p in data.results.iterdir()) == before


def test_the_entry_point_serves_on_the_configured_address(tmp_path: Path) -> None:
    with app_process(tmp_path) as app:
        page = httpx.get(app.url, timeout=10)
        assert "Crisis-Safety Leaderboard" in page.text
        # SIGTERM is a normal stop: exit 0, no traceback (what `make run` shows when stopped).
        assert app.stop() == 0
        err = app.output()
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-2000:]
