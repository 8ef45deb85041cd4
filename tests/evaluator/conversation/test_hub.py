"""A conversation run through the Hub store (loopback emulator, real huggingface_hub over HTTP):
the private run directory goes to the private repo, the rows and public transcripts to the
results repo, and another machine resumes the run from what the Hub holds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from evaluator.conversation import ConversationConfig, run_conversations
from evaluator.judge.heuristic import HeuristicJudge
from evaluator.storage import RunSink
from evaluator.storage.hub import create_repos
from tests.evaluator.conversation.helpers import CARING, always, write_personas
from tests.support.hub_store import HubSite, hub_site
from tests.support.scripted import ScriptedBackend

STORE = "hub:crisis-org/talk"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubSite]:
    with hub_site(tmp_path, monkeypatch, STORE) as s:
        yield s


def test_a_conversation_run_travels_through_the_hub_and_resumes_elsewhere(site: HubSite, tmp_path: Path) -> None:
    writer = site.open("writer")
    create_repos(writer, site.cards())
    personas = write_personas(tmp_path / "p.jsonl", public=True)
    config = ConversationConfig(model="talk/caring", personas=personas)

    def run(store):
        backend = ScriptedBackend(always(CARING), name="talk/caring")
        sink = RunSink(store)
        outcome = run_conversations(
            config, store.data, progress=False, backend=backend, judges=[HeuristicJudge()], sink=sink
        )
        assert outcome.complete, outcome.reason
        sink.publish()
        return outcome, backend

    first, _ = run(writer)
    prefix = f"runs/{first.run_id}"
    public = site.anonymous_download("crisis-org/talk-results", f"results/{first.run_id}.parquet")
    assert public[:4] == b"PAR1"
    assert site.anonymous_download("crisis-org/talk-results", f"public/conversations/{first.run_id}.jsonl")
    with pytest.raises(Exception, match=r"404|not found|Repository Not Found"):
        site.anonymous_download("crisis-org/talk-private", f"{prefix}/turns.jsonl")
    # Another machine, with its own (empty) directory and cache: it pulls the run and has nothing to generate.
    other = site.open("other")
    again, backend = run(other)
    assert again.run_id == first.run_id and backend.calls == []
    assert (other.data.root / prefix / "turns.jsonl").read_bytes() == (
        writer.data.root / prefix / "turns.jsonl"
    ).read_bytes()
