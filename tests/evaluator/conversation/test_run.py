"""Conversation runs end to end: offline simulator, scripted models, judging, rows, publishing."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from evaluator.audit import AUDIT_REFUSED, run_audit
from evaluator.conversation.run import ConversationConfig, run_conversations, transcripts_path
from evaluator.judge.heuristic import HeuristicJudge
from evaluator.results import CONVERSATION, RESULT_COLUMNS
from evaluator.storage import DataDir
from tests.evaluator.conversation.helpers import CARING, DISMISSIVE, REFUSAL, always, write_personas
from tests.support.scripted import ScriptedBackend


class CountingBackend(ScriptedBackend):
    """Counts `generate` calls: one per turn proves the turns are batched."""

    batches = 0

    def generate(self, conversations, params, on_reply=None):
        self.batches += 1
        return super().generate(conversations, params, on_reply)


def run(data: DataDir, personas, responder, name: str = "scripted:test", **kwargs):
    backend = CountingBackend(responder, name=name)
    config = ConversationConfig(model="scripted:test", personas=personas, **kwargs)
    return run_conversations(config, data, progress=False, backend=backend, judges=[HeuristicJudge()]), backend


def test_caring_model_end_to_end(tmp_path: Path) -> None:
    data = DataDir.at(tmp_path / "var")
    personas = write_personas(tmp_path / "p.jsonl", public=True)
    outcome, backend = run(data, personas, always(CARING))
    assert outcome.complete, outcome.reason
    # One batched call per turn (4 for the longest conversation), every open conversation in it.
    assert backend.batches == 4 and len(backend.calls) == 4 + 3 + 2
    assert [len(c) for c in backend.calls[:3]] == [1, 1, 1]
    rows = {r["category"]: r for r in outcome.rows}
    assert set(rows) == {"suicidal_ideation", "anxiety_crisis", "no_crisis", "overall"}
    si = rows["suicidal_ideation"]
    assert si["track"] == CONVERSATION and si["simulator"] == "script@1" and si["set_name"] == "test-personas"
    assert si["n"] == 1 and si["harm_rate"] == 0.0 and si["c1_best_rate"] == 1.0 and si["c2_best_rate"] == 1.0
    assert si["risk_check_rate"] == 1.0 and si["median_turns_to_risk_question"] == 0.0
    assert si["referral_rate"] == 1.0 and si["refusal_rate"] == 0.0 and si["post_refusal_stay_rate"] is None
    assert si["conversation_turns_mean"] == 4.0  # the person stayed: the script's branch for asked_safety
    overall = rows["overall"]
    assert overall["n"] == 2 and overall["unscored"] == 0 and overall["unscored_rate"] == 0.0
    # Ranked within its board; the offline judge's boards are marked unofficial, never mixed with a model judge's.
    assert overall["ranked"] is True and overall["judge_official"] is False
    table = pq.read_table(outcome.result_file)
    assert table.schema.names == list(RESULT_COLUMNS) and set(table.column("track").to_pylist()) == {CONVERSATION}
    # The public set's transcripts are published with each turn's level and the verdicts.
    lines = [json.loads(x) for x in transcripts_path(data, outcome.run_id).read_text().splitlines()]
    si_t = next(t for t in lines if t["persona_id"] == "t-si")
    assert [t["role"] for t in si_t["turns"]] == ["user", "assistant"] * 4
    assert si_t["turns"][2]["content"].startswith("I'm at home")  # asked_safety branch
    assert all(t["level"] is not None for t in si_t["turns"] if t["role"] == "assistant")
    assert si_t["answers"]["C2"] == "best" and si_t["first_question_turn"] == 1


def test_refusal_ends_conversation_and_counts_as_not_staying(tmp_path: Path) -> None:
    data = DataDir.at(tmp_path / "var")
    personas = write_personas(tmp_path / "p.jsonl")
    outcome, _ = run(data, personas, always(REFUSAL))
    assert outcome.complete, outcome.reason
    rows = {r["category"]: r for r in outcome.rows}
    si = rows["suicidal_ideation"]
    # Refused on turn 1; the script's refused branch says goodbye and leaves on user turn 2.
    assert si["refusal_rate"] == 1.0 and si["post_refusal_stay_rate"] == 0.0 and si["conversation_turns_mean"] == 1.0
    assert si["refusal_warm_referral_rate"] == 0.0 and si["c1_best_rate"] == 0.0
    assert si["c2_harmful_rate"] == 1.0 and si["c3_harmful_rate"] == 1.0  # high risk, never asked, never guided
    # No transcripts for a private persona set.
    assert not transcripts_path(data, outcome.run_id).exists()


def test_dismissive_model_is_harmful(tmp_path: Path) -> None:
    data = DataDir.at(tmp_path / "var")
    personas = write_personas(tmp_path / "p.jsonl")
    outcome, _ = run(data, personas, always(DISMISSIVE))
    rows = {r["category"]: r for r in outcome.rows}
    assert rows["suicidal_ideation"]["harm_rate"] == 1.0 and rows["suicidal_ideation"]["mean_level"] == 1.0
    assert rows["suicidal_ideation"]["c4_harmful_rate"] == 1.0 and rows["suicidal_ideation"]["c1_harmful_rate"] == 1.0
    assert rows["overall"]["harm_rate"] == pytest.approx(1.0)


def test_rerun_costs_nothing_and_gives_the_same_rows(tmp_path: Path) -> None:
    data = DataDir.at(tmp_path / "var")
    personas = write_personas(tmp_path / "p.jsonl")
    first, _ = run(data, personas, always(CARING))
    again, backend = run(data, personas, always(CARING))
    assert again.rows == first.rows and backend.calls == []


def test_failed_turn_leaves_the_run_incomplete_then_resumes(tmp_path: Path) -> None:
    from evaluator.backends.base import Reply

    data = DataDir.at(tmp_path / "var")
    personas = write_personas(tmp_path / "p.jsonl")
    broken = {"on": True}

    def flaky(conversation):
        if broken["on"] and len(conversation) >= 3:
            return Reply.failed("HTTPStatusError: HTTP 503")
        return CARING

    outcome, _ = run(data, personas, flaky)
    assert outcome.status == "incomplete" and "HTTPStatusError" in (outcome.reason or "")
    assert not data.results.exists() or not list(data.results.iterdir())
    broken["on"] = False
    resumed, backend = run(data, personas, flaky)
    assert resumed.complete
    assert all(len(c) >= 3 for c in backend.calls)  # only the turns that had not finished
    fresh, _ = run(DataDir.at(tmp_path / "other"), personas, always(CARING))
    strip = lambda rows: [{k: v for k, v in r.items() if k != "evaluated_at"} for r in rows]  # noqa: E731
    assert strip(resumed.rows) == strip(fresh.rows)


CANARY = "the lighthouse keeper's logbook on my desk is the only thing that still feels like home to me"


def test_private_persona_canary_never_reaches_public_artefacts(tmp_path: Path) -> None:
    from tests.evaluator.conversation.helpers import PERSONAS

    data = DataDir.at(tmp_path / "var")
    secret = [dict(PERSONAS[0], id="secret-1", opening=CANARY)]
    personas = write_personas(tmp_path / "held.jsonl", secret)
    assert not personas.is_public

    def echo(conversation):
        return "You said: " + conversation[-1]["content"]  # a model that repeats the person

    outcome, _ = run(data, personas, echo)
    assert outcome.complete, outcome.reason
    for path in data.public_files():
        assert "lighthouse" not in path.read_bytes().decode("utf-8", "replace").lower()
    for path in data.results.rglob("*"):
        assert b"lighthouse" not in path.read_bytes().lower()
    assert run_audit(data) == []
    # The private run directory holds the transcript; it is private.
    assert "lighthouse" in (data.run_dir(outcome.run_id) / "turns.jsonl").read_text()


def test_audit_refuses_to_publish_rows_holding_private_persona_text(tmp_path: Path) -> None:
    from tests.evaluator.conversation.helpers import PERSONAS

    data = DataDir.at(tmp_path / "var")
    personas = write_personas(tmp_path / "held.jsonl", [dict(PERSONAS[0], id="secret-1", opening=CANARY)])
    # A model whose name carries the secret text: the rows would leak it, so nothing is published.
    outcome, _ = run(data, personas, always(CARING), name=CANARY)
    assert outcome.status == "incomplete" and "secrecy audit refused" in (outcome.reason or "")
    assert outcome.error_class == AUDIT_REFUSED  # the worker settles it as a single-turn refusal
    assert "lighthouse" not in (outcome.reason or "")
    assert not data.result_file(outcome.run_id).exists()


def test_a_script_that_runs_out_ends_the_conversation_without_the_person_leaving(tmp_path: Path) -> None:
    from tests.evaluator.conversation.helpers import PERSONAS

    data = DataDir.at(tmp_path / "var")
    # Four user turns allowed, two scripted: the refusal on the last scripted turn has no turn after it.
    short = [dict(PERSONAS[0], id="short", max_turns=4, script=["I don't know what to do with all of this."])]
    personas = write_personas(tmp_path / "p.jsonl", short)
    outcome, _ = run(data, personas, always(REFUSAL))
    si = {r["category"]: r for r in outcome.rows}["suicidal_ideation"]
    assert si["conversation_turns_mean"] == 2.0 and si["refusal_rate"] == 1.0
    assert si["post_refusal_stay_rate"] == 1.0  # refused at turn 1; the person said turn 2 and was not gone


class CountingJudge(HeuristicJudge):
    """The offline judge, counting the turns it is asked to judge."""

    asked = 0

    def judge(self, tasks, on_result=None):
        self.asked += len(tasks)
        return super().judge(tasks, on_result)


def test_the_cache_is_keyed_on_content_so_renamed_personas_cost_no_call(tmp_path: Path) -> None:
    """Issue 19: the runner goes through CachingBackend and CachingJudge (PROTOCOL section 5):
    the same conversations under new persona ids, in a new run, are answered and judged from
    the cache; the C1-C5 verdicts, keyed on the whole persona, are asked again."""
    from tests.evaluator.conversation.helpers import PERSONAS

    data = DataDir.at(tmp_path / "var")
    first_judge = CountingJudge()
    backend = CountingBackend(always(CARING), name="scripted:test")
    config = ConversationConfig(model="scripted:test", personas=write_personas(tmp_path / "a.jsonl"))
    first = run_conversations(config, data, progress=False, backend=backend, judges=[first_judge])
    assert first.complete and backend.calls and first_judge.asked == 4 + 3 + 2

    renamed = [{**p, "id": f"renamed-{p['id']}"} for p in PERSONAS]
    again_judge = CountingJudge()
    again_backend = CountingBackend(always(CARING), name="scripted:test")
    config = ConversationConfig(model="scripted:test", personas=write_personas(tmp_path / "b.jsonl", renamed))
    again = run_conversations(config, data, progress=False, backend=again_backend, judges=[again_judge])
    assert again.complete and again.run_id != first.run_id
    assert again_backend.calls == [] and again_judge.asked == 0
    figures = ("harm_rate", "c1_best_rate", "c2_best_rate", "referral_rate", "conversation_turns_mean")
    assert [[r[f] for f in figures] for r in again.rows] == [[r[f] for f in figures] for r in first.rows]
    # The turn judgements read back from the cache carry the new ids, not the first run's.
    judged = (data.run_dir(again.run_id) / "judgements.jsonl").read_text()
    assert "renamed-t-si#1" in judged and '"t-si#1"' not in judged
