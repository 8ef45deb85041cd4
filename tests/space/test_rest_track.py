"""REST: `track` picks a track's board on /leaderboard, /leaderboard.csv and /models (PROTOCOL section 9)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from evaluator.conversation import ConversationConfig, resolve_personas, run_conversations
from evaluator.judge.heuristic import HeuristicJudge
from evaluator.storage import DataDir
from leaderboard.query import Leaderboard
from leaderboard.store import ResultStore
from space.api import build_api
from tests.evaluator.conversation.helpers import CARING, always
from tests.support.results_factory import RunSpec, write_run
from tests.support.scripted import ScriptedBackend


def test_track_parameter(tmp_path: Path) -> None:
    data = DataDir.at(tmp_path / "var")
    write_run(data, RunSpec("single/turn", harm=0.2))
    config = ConversationConfig(model="talk/caring", personas=resolve_personas("public-personas", data), max_turns=2)
    backend = ScriptedBackend(always(CARING), name="talk/caring")
    assert run_conversations(config, data, progress=False, backend=backend, judges=[HeuristicJudge()]).complete
    client = TestClient(build_api(Leaderboard(ResultStore(data), min_models=1)))

    def models(params: dict[str, str]) -> set[str]:
        response = client.get("/leaderboard", params=params)
        assert response.status_code == 200, response.text
        return {row["model"] for row in response.json()["rows"]}

    assert models({}) == {"single/turn"}  # the headline board stays single-turn
    assert models({"track": "conversation"}) == {"talk/caring"}
    assert models({"track": "single_turn"}) == {"single/turn"}
    assert "talk/caring" in client.get("/leaderboard.csv", params={"track": "conversation"}).text
    assert client.get("/models/talk/caring", params={"track": "conversation"}).status_code == 200
    assert client.get("/models/talk/caring").status_code == 404  # not on the single-turn board
    bad = client.get("/leaderboard", params={"track": "log_audit"})
    assert bad.status_code == 400 and "track must be" in bad.text
    single_key = client.get("/boards").json()
    key = next(b["key"] for b in single_key["boards"] if b["track"] == "single_turn")
    mismatch = client.get("/leaderboard", params={"track": "conversation", "board": key})
    assert mismatch.status_code == 400 and "not a conversation board" in mismatch.text
