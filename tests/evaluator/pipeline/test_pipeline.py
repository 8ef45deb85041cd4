"""The run pipeline end to end: resumability, errors, caching, panels, secrecy."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from evaluator.backends import Reply
from evaluator.items import Item, ItemSet, load_set
from evaluator.judge.heuristic import HeuristicJudge
from evaluator.judge.llm import ChecklistJudge
from evaluator.pipeline import RunConfig, RunError, run_evaluation
from evaluator.results import RESULT_COLUMNS
from evaluator.storage import DataDir
from tests.support.scripted import ScriptedBackend
from tests.support.verdicts import category_of_judge_prompt, nonce_of_judge_prompt, verdict_json

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "evaluator" / "sample_sets" / "public-sample.jsonl"
CANARY = "CANARY-b71e4c held-out wording that must never be published"


def small_set(per_category: int = 3) -> ItemSet:
    full = load_set(SAMPLE)
    picked: list[Item] = []
    counts: dict[str, int] = {}
    for item in full.items:
        if counts.get(item.category, 0) < per_category:
            counts[item.category] = counts.get(item.category, 0) + 1
            picked.append(item)
    adversarial = [i for i in full.items if i.track == "adversarial"][:3]
    picked += [i for i in adversarial if i not in picked]
    return ItemSet("mini", "1", tuple(picked), "public")


def supportive(conversation: object) -> str:
    return (
        "I'm really sorry you're going through this, it makes sense that you feel overwhelmed. "
        "Are you safe right now? You can call or text 988 or talk to someone you trust. I'm here."
    )


def level_judge(level: int = 4) -> ChecklistJudge:
    def respond(messages: object) -> str:
        from evaluator.protocol.taxonomy import CATEGORIES

        category = category_of_judge_prompt(messages, CATEGORIES)  # type: ignore[arg-type]
        return verdict_json(category, level, nonce=nonce_of_judge_prompt(messages))  # type: ignore[arg-type]

    return ChecklistJudge(ScriptedBackend(respond, name="scripted:judge"), judge_id="scripted:judge")


def result_frame(data: DataDir) -> pd.DataFrame:
    files = sorted(data.results.glob("*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True) if files else pd.DataFrame()


def test_baseline_with_heuristic_judge_publishes_rows(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    config = RunConfig(model="baseline:refusal", item_set=small_set(), judges=("heuristic",))
    outcome = run_evaluation(config, data, progress=False)
    assert outcome.complete, outcome.reason
    frame = pd.read_parquet(outcome.result_file)
    assert list(frame.columns) == list(RESULT_COLUMNS)
    assert set(frame["category"]) == {*{i.category for i in config.item_set.items}, "overall"}
    overall = frame[frame["category"] == "overall"].iloc[0]
    assert overall["model"] == "baseline:refusal" and overall["judge"].startswith("heuristic")
    assert bool(overall["judge_official"]) is False
    # A bare refusal to everyone: every crisis reply is a bare refusal, every venting person refused.
    assert overall["bare_refusal_rate"] == 1.0
    assert overall["over_refusal_rate"] == 1.0
    assert overall["harm_rate"] == 0.0 and overall["appropriate_rate"] == 0.0
    status = json.loads((data.run_dir(outcome.run_id) / "status.json").read_text())
    assert status["status"] == "complete"
    confusion = json.loads(overall["detection_confusion"])
    assert confusion["labels"][-1] == "no_crisis"
    # A refusal names no label: every item lands in the last ("no label") column.
    assert [row[-1] for row in confusion["matrix"]] == [
        sum(1 for i in config.item_set.items if i.category == label) for label in confusion["labels"]
    ]
    assert overall["total_tokens"] == overall["prompt_tokens"] + overall["completion_tokens"]
    # Replies to a public set are published as examples for the model page.
    (examples,) = (data.public / "examples").glob("*.jsonl")
    records = [json.loads(line) for line in examples.read_text().splitlines()]
    assert len(records) == len(config.item_set.items)
    assert {r["set_visibility"] for r in records} == {"public"}


def test_resume_reuses_finished_work_and_matches_an_unbroken_run(tmp_path: Path) -> None:
    items = small_set()
    config = RunConfig(model="scripted:model", item_set=items, judges=("scripted:judge",), bootstrap_rounds=200)

    class Crash(Exception):
        pass

    calls = {"n": 0}

    def crashing(conversation: object) -> str:
        calls["n"] += 1
        if calls["n"] > 9:
            raise Crash("killed")
        return supportive(conversation)

    broken = DataDir(tmp_path / "broken")
    with pytest.raises(Crash):
        run_evaluation(
            config,
            broken,
            progress=False,
            backend=ScriptedBackend(crashing, name="scripted:model"),
            judges=[level_judge()],
        )
    assert not list(broken.results.glob("*")) if broken.results.exists() else True

    resumed_backend = ScriptedBackend(supportive, name="scripted:model")
    resumed = run_evaluation(config, broken, progress=False, backend=resumed_backend, judges=[level_judge()])
    assert resumed.complete
    # 9 replies were finished before the crash: only the rest are generated again.
    assert len(resumed_backend.calls) == 2 * len(items.items) - 9

    clean = DataDir(tmp_path / "clean")
    unbroken = run_evaluation(
        config,
        clean,
        progress=False,
        backend=ScriptedBackend(supportive, name="scripted:model"),
        judges=[level_judge()],
    )
    assert unbroken.run_id == resumed.run_id
    left = result_frame(broken).drop(columns=["evaluated_at"])
    right = result_frame(clean).drop(columns=["evaluated_at"])
    pd.testing.assert_frame_equal(left, right)


def test_failed_items_make_the_run_incomplete_and_a_rerun_retries_only_them(tmp_path: Path) -> None:
    items = small_set(2)
    data = DataDir(tmp_path)
    config = RunConfig(model="scripted:model", item_set=items, judges=("heuristic",), detection=False)
    victim = items.items[3].messages

    def flaky(conversation: object) -> str | Reply:
        if conversation == victim:
            return Reply.failed("HTTPStatusError: HTTP 503 after 6 attempts")
        return supportive(conversation)

    first = run_evaluation(
        config, data, progress=False, backend=ScriptedBackend(flaky, name="scripted:model"), judges=[HeuristicJudge()]
    )
    assert first.status == "incomplete" and first.errors == 1
    assert "1 generation" in (first.reason or "") and "HTTPStatusError" in (first.reason or "")
    assert not data.results.exists() or not list(data.results.iterdir())

    healthy = ScriptedBackend(supportive, name="scripted:model")
    second = run_evaluation(config, data, progress=False, backend=healthy, judges=[HeuristicJudge()])
    assert second.complete
    assert healthy.calls == [victim]


def test_unparseable_judge_output_is_unscored_not_a_default_score(tmp_path: Path) -> None:
    items = small_set(2)
    bad_judge = ChecklistJudge(
        ScriptedBackend(lambda m: "I think it is fine. Score: 5", name="scripted:judge"), judge_id="scripted:judge"
    )
    outcome = run_evaluation(
        RunConfig(model="scripted:model", item_set=items, judges=("scripted:judge",), detection=False),
        DataDir(tmp_path),
        progress=False,
        backend=ScriptedBackend(supportive, name="scripted:model"),
        judges=[bad_judge],
    )
    # Nothing scored: no default score, and no n = 0 "result" either (issue 10.2).
    assert outcome.status == "unscored" and outcome.rows == [] and outcome.result_file is None
    assert outcome.error_class == "VerdictError" and outcome.stats["unscored"] == len(items.items)
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").iterdir())


def test_cache_lets_a_new_judge_reuse_generations(tmp_path: Path) -> None:
    items = small_set(2)
    data = DataDir(tmp_path)
    first_backend = ScriptedBackend(supportive, name="scripted:model")
    run_evaluation(
        RunConfig(model="m", item_set=items, judges=("heuristic",)),
        data,
        progress=False,
        backend=first_backend,
        judges=[HeuristicJudge()],
    )
    assert first_backend.calls
    again = ScriptedBackend(supportive, name="scripted:model")
    outcome = run_evaluation(
        RunConfig(model="m", item_set=items, judges=("scripted:judge",)),
        data,
        progress=False,
        backend=again,
        judges=[level_judge(5)],
    )
    assert outcome.complete and again.calls == []
    overall = next(r for r in outcome.rows if r["category"] == "overall")
    assert overall["full_rate"] == 1.0


def test_rows_carry_protocol_3_track_and_judge_settings(tmp_path: Path) -> None:
    # PROTOCOL version 3, section 8: every row has its track and the judge's generation
    # settings; the heuristic generates nothing and has none.
    items = small_set(1)
    model = ScriptedBackend(supportive, name="scripted:model")
    judged = run_evaluation(
        RunConfig(model="m", item_set=items, judges=("scripted:judge",), detection=False),
        DataDir(tmp_path / "a"),
        progress=False,
        backend=model,
        judges=[level_judge(4)],
    )
    heuristic = run_evaluation(
        RunConfig(model="m", item_set=items, judges=("heuristic",), detection=False),
        DataDir(tmp_path / "b"),
        progress=False,
        backend=model,
        judges=[HeuristicJudge()],
    )
    assert judged.complete and heuristic.complete
    frame = pd.read_parquet(judged.result_file)
    assert set(frame["track"]) == {"single_turn"} and set(frame["protocol_version"]) == {"3"}
    assert set(frame["judge_temperature"]) == {0.0} and set(frame["judge_max_tokens"]) == {2048}
    other = pd.read_parquet(heuristic.result_file)
    assert set(other["track"]) == {"single_turn"}
    assert other["judge_temperature"].isna().all() and other["judge_max_tokens"].isna().all()


def test_judge_settings_change_the_prompt_hash_and_the_columns(tmp_path: Path) -> None:
    def respond(messages: object) -> str:
        from evaluator.protocol.taxonomy import CATEGORIES

        category = category_of_judge_prompt(messages, CATEGORIES)  # type: ignore[arg-type]
        return verdict_json(category, 4, nonce=nonce_of_judge_prompt(messages))  # type: ignore[arg-type]

    items = small_set(1)
    rows = {}
    for name, settings in (("default", {}), ("hot", {"temperature": 0.5, "max_tokens": 700})):
        judge = ChecklistJudge(ScriptedBackend(respond, name="scripted:judge"), judge_id="scripted:judge", **settings)
        outcome = run_evaluation(
            RunConfig(model="m", item_set=items, judges=("scripted:judge",), detection=False),
            DataDir(tmp_path / name),
            progress=False,
            backend=ScriptedBackend(supportive, name="scripted:model"),
            judges=[judge],
        )
        assert outcome.complete, outcome.reason
        rows[name] = next(r for r in outcome.rows if r["category"] == "overall")
    assert (rows["hot"]["judge_temperature"], rows["hot"]["judge_max_tokens"]) == (0.5, 700)
    assert (rows["default"]["judge_temperature"], rows["default"]["judge_max_tokens"]) == (0.0, 2048)
    assert rows["hot"]["judge_prompt_hash"] != rows["default"]["judge_prompt_hash"]


def _judge_over_http(tmp_path: Path, reported: Any) -> tuple[Any, Any]:
    from evaluator.backends import BackendOptions
    from tests.support.openai_server import OpenAIServer
    from tests.support.responders import model_and_judge

    with OpenAIServer(model_and_judge) as server:
        server.reported_model = reported
        options = BackendOptions(base_url=server.url, timeout_s=5.0, concurrency=1)
        config = RunConfig(
            model="openai:model-a",
            item_set=small_set(2),
            judges=("openai:judge-a",),
            model_options=options,
            judge_options=options,
            detection=False,
        )
        data = DataDir(tmp_path)
        return run_evaluation(config, data, progress=False), data


def test_an_api_judge_is_pinned_by_the_model_id_its_responses_report(tmp_path: Path) -> None:
    # Real HTTP to the OpenAI-compatible test server: an undated judge id, a dated one reported.
    def reported(request: Any) -> str:
        return "judge-a-2024-05-13" if request.model == "judge-a" else request.model

    outcome, _ = _judge_over_http(tmp_path, reported)
    assert outcome.complete, outcome.reason
    assert {r["judge_served_model"] for r in outcome.rows} == {"judge-a-2024-05-13"}


def test_a_mid_run_change_of_the_reported_judge_model_stops_the_run(tmp_path: Path) -> None:
    # The provider moves the alias to a new snapshot after the judge's third call.
    calls: list[int] = []

    def reported(request: Any) -> str:
        if request.model != "judge-a":
            return request.model
        calls.append(request.number)
        return "judge-a-2024-05-13" if len(calls) <= 3 else "judge-a-2024-08-06"

    outcome, data = _judge_over_http(tmp_path, reported)
    assert outcome.status == "stopped" and outcome.rows == []
    assert (
        outcome.reason is not None and "judge-a-2024-05-13" in outcome.reason and "judge-a-2024-08-06" in outcome.reason
    )
    assert not list(data.results.glob("*.parquet"))  # nothing published, nothing mixed
    status = json.loads((data.run_dir(outcome.run_id) / "status.json").read_text())
    assert status["status"] == "stopped"
    # Only verdicts of the first model were kept; a re-run against the new snapshot stops
    # again instead of mixing them with the cached ones.
    kept = [json.loads(line) for line in (data.run_dir(outcome.run_id) / "judgements.jsonl").read_text().splitlines()]
    assert len(kept) == 3 and {k["served_model"] for k in kept} == {"judge-a-2024-05-13"}
    again, _ = _judge_over_http(tmp_path, lambda r: "judge-a-2024-08-06" if r.model == "judge-a" else r.model)
    assert again.status == "stopped" and "judge-a-2024-05-13" in (again.reason or "")


class SeededBackend(ScriptedBackend):
    """A sampled model: its reply depends on the seed of each call, as sampling does."""

    def __init__(self, slips_on: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        super().__init__(self._reply, name="scripted:sampled")
        self.seeds: list[int] = []
        self._seed = 0
        self._slips_on = slips_on

    def _reply(self, conversation: Any) -> str:
        # Seed 12 (sample 2) slips on the chosen messages; every other reply stays supportive.
        if self._seed == 12 and conversation[-1]["content"] in self._slips_on:
            return "UNSAFE-SAMPLE " + supportive(conversation)
        return supportive(conversation) + f" (seed {self._seed})"

    def generate(self, conversations: Any, params: Any, on_reply: Any = None) -> Any:
        self.seeds.append(params.seed)
        self._seed = params.seed
        return super().generate(conversations, params, on_reply)


def _sample_judge() -> ChecklistJudge:
    def respond(messages: Any) -> str:
        from evaluator.protocol.taxonomy import CATEGORIES

        category = category_of_judge_prompt(messages, CATEGORIES)
        level = 1 if "UNSAFE-SAMPLE" in messages[-1]["content"] else 4
        return verdict_json(category, level, nonce=nonce_of_judge_prompt(messages))

    return ChecklistJudge(ScriptedBackend(respond, name="scripted:judge"), judge_id="scripted:judge")


def test_k_samples_per_item_are_seeded_recorded_and_scored_per_item(tmp_path: Path) -> None:
    from dataclasses import replace as with_

    from evaluator.backends import GenerationParams

    items = small_set(2)
    slips = {i.last_user_message for i in items.items if i.category == "suicidal_ideation"}
    backend = SeededBackend(slips)
    config = RunConfig(
        model="m",
        item_set=items,
        judges=("scripted:judge",),
        params=GenerationParams(temperature=0.7, seed=10),
        samples=3,
    )
    outcome = run_evaluation(config, DataDir(tmp_path), progress=False, backend=backend, judges=[_sample_judge()])
    assert outcome.complete, outcome.reason
    # Three reply stages (seeds 10, 11, 12) and one detection stage; all recorded.
    assert sorted(set(backend.seeds)) == [10, 11, 12]
    spec = json.loads((DataDir(tmp_path).run_dir(outcome.run_id) / "spec.json").read_text())
    assert spec["samples"] == {"k": 3, "seeds": [10, 11, 12]}
    rows = {r["category"]: r for r in outcome.rows}
    si = rows["suicidal_ideation"]
    n_si = sum(1 for i in items.items if i.category == "suicidal_ideation" and i.track == "support")
    assert (si["samples"], si["n"], si["n_items"]) == (3, 3 * n_si, n_si)
    # One harmful reply in three per item: harm over replies 1/3, no item consistently safe.
    assert si["harm_rate"] == pytest.approx(1 / 3)
    assert si["consistent_safe_rate"] == 0.0 and si["level_spread"] == 3.0
    assert rows["self_harm"]["consistent_safe_rate"] == 1.0
    assert rows["overall"]["detection_n"] == len(items.items)
    # The same run again reuses every reply and verdict; one sample is the default run.
    again = SeededBackend(slips)
    rerun = run_evaluation(config, DataDir(tmp_path), progress=False, backend=again, judges=[_sample_judge()])
    assert rerun.complete and again.calls == []
    single = run_evaluation(
        with_(config, samples=1, params=GenerationParams(temperature=0.7, seed=10)),
        DataDir(tmp_path / "one"),
        progress=False,
        backend=SeededBackend(slips),
        judges=[_sample_judge()],
    )
    one = {r["category"]: r for r in single.rows}["suicidal_ideation"]
    assert (one["samples"], one["n"], one["consistent_safe_rate"]) == (1, n_si, None)
    with pytest.raises(RunError, match="temperature"):
        run_evaluation(
            with_(config, params=GenerationParams()), DataDir(tmp_path / "x"), backend=backend, judges=[_sample_judge()]
        )


def test_cli_samples_flag(tmp_path: Path) -> None:
    bad = _run_cli(
        ["run", "--model", "baseline:refusal", "--set", str(SAMPLE), "--samples", "3", "--data", str(tmp_path)]
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--temperature" in bad.stderr
    ok = _run_cli(
        [
            *("run", "--model", "baseline:template", "--set", str(SAMPLE), "--samples", "2"),
            *("--temperature", "0.5", "--no-detection", "--quiet", "--data", str(tmp_path)),
        ]
    )
    assert ok.returncode == 0, ok.stderr
    frame = result_frame(DataDir(tmp_path))
    assert set(frame["samples"]) == {2}
    assert frame.loc[frame["category"] == "overall", "consistent_safe_rate"].notna().all()


def test_panel_of_two_judges_reports_alpha_and_joint_id(tmp_path: Path) -> None:
    items = small_set(2)
    outcome = run_evaluation(
        RunConfig(model="m", item_set=items, judges=("heuristic", "scripted:judge"), detection=False),
        DataDir(tmp_path),
        progress=False,
        backend=ScriptedBackend(supportive, name="scripted:model"),
        judges=[HeuristicJudge(), level_judge(5)],
    )
    assert outcome.complete
    overall = next(r for r in outcome.rows if r["category"] == "overall")
    assert overall["judge"].startswith("heuristic") and overall["judge"].endswith("+scripted:judge")
    assert overall["judge_official"] is False
    assert overall["judge_alpha"] is not None and -1.0 <= overall["judge_alpha"] <= 1.0


def _category_level_judge(judge_id: str, levels: dict[str, int], family: str | None = None) -> ChecklistJudge:
    def respond(messages: object) -> str:
        from evaluator.protocol.taxonomy import CATEGORIES

        category = category_of_judge_prompt(messages, CATEGORIES)  # type: ignore[arg-type]
        return verdict_json(category, levels.get(category, 4), nonce=nonce_of_judge_prompt(messages))  # type: ignore[arg-type]

    return ChecklistJudge(ScriptedBackend(respond, name=judge_id), judge_id=judge_id, family=family)


def test_panel_alpha_and_same_family_flag_are_written_with_their_values(tmp_path: Path) -> None:
    items = small_set(2)
    varied = {"suicidal_ideation": 2, "self_harm": 5, "anxiety_crisis": 3, "no_crisis": 5, "violent_thoughts": 1}

    def run(judges: list[ChecklistJudge], model: str, where: str) -> dict[str, Any]:
        outcome = run_evaluation(
            RunConfig(model=model, item_set=items, judges=tuple(j.id for j in judges), detection=False),
            DataDir(tmp_path / where),
            progress=False,
            backend=ScriptedBackend(supportive, name=model),
            judges=judges,
        )
        assert outcome.complete, outcome.reason
        return next(r for r in outcome.rows if r["category"] == "overall")

    agree = run([_category_level_judge("j:a", varied), _category_level_judge("j:b", varied)], "org/model", "agree")
    assert agree["judge_alpha"] == pytest.approx(1.0)
    assert agree["judge_same_family"] is False
    flipped = {c: 6 - level for c, level in varied.items()}
    disagree = run([_category_level_judge("j:a", varied), _category_level_judge("j:c", flipped)], "org/model", "dis")
    assert disagree["judge_alpha"] is not None and disagree["judge_alpha"] < 0
    single = run([_category_level_judge("j:llama", varied, family="llama")], "meta-llama/Llama-3.1-8B-Instruct", "fam")
    assert single["judge_same_family"] is True and single["judge_alpha"] is None
    other = run([_category_level_judge("j:llama", varied, family="llama")], "Qwen/Qwen2.5-7B-Instruct", "other")
    assert other["judge_same_family"] is False


def _run_cli(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "evaluator", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, **kw
    )  # type: ignore[call-overload]


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "category": "sad", "signal": "explicit", "turns": []}\n')
    for args, expected in [
        (["run", "--model", "baseline:refusal", "--set", str(bad)], "bad.jsonl line 1: field 'category'"),
        (["run", "--model", "nonsense", "--set", "public-sample"], "unknown model spec"),
        (["run", "--model", "baseline:refusal", "--set", str(tmp_path / "none.jsonl")], "no such set file"),
        (["run", "--model", "hf:org/model", "--set", "public-sample", "--quiet"], "cannot reach the Hugging Face Hub"),
    ]:
        done = _run_cli([*args, "--data", str(tmp_path / "var")])
        assert done.returncode == 2, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and expected in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "var" / "results").exists()


@pytest.fixture
def private_set(tmp_path: Path) -> Path:
    """A private set whose every turn carries a canary string."""
    rows = []
    for n, item in enumerate(small_set(2).items):
        turns = [{"role": t.role, "content": f"{t.content} {CANARY}-{n}"} for t in item.turns]
        rows.append(item.to_json() | {"id": f"secret-{n}", "turns": turns})
    path = tmp_path / "heldout.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[str]:
    """The local OpenAI-compatible server in its own process, playing model and judge."""
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.openai_server",
            "--latency",
            "0.05",
            "--responder",
            "tests.support.responders:model_and_judge",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_cli_over_http_sigkill_and_resume_matches_unbroken_run(
    tmp_path: Path, private_set: Path, server_process: str
) -> None:
    """A run killed with SIGKILL mid-generation, started again with the same command, ends
    with the same result rows as an unbroken run; the held-out text reaches no public file."""
    args = [
        "run",
        "--model",
        "openai:model-a",
        "--base-url",
        server_process,
        "--judge",
        "openai:judge-a",
        "--judge-base-url",
        server_process,
        "--set",
        str(private_set),
        "--concurrency",
        "2",
        "--bootstrap-rounds",
        "200",
    ]
    broken = tmp_path / "broken"
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "evaluator", *args, "--data", str(broken)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    replies = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        replies = next(broken.glob("runs/*/replies.jsonl"), None)
        if replies is not None and len(replies.read_text().splitlines()) >= 6:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert replies is not None
    finished_before = len(replies.read_text().splitlines())
    assert not (broken / "results").exists() or not list((broken / "results").iterdir())

    resumed = _run_cli([*args, "--data", str(broken), "--quiet"])
    assert resumed.returncode == 0, resumed.stderr
    records = []
    for line in replies.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):  # the line torn by the kill
            records.append(json.loads(line))
    # Each (kind, item) was generated exactly once across the two processes.
    tasks = [(r["kind"], r["item_id"]) for r in records]
    assert len(tasks) == len(set(tasks)) == 2 * len(load_set(private_set).items)
    assert finished_before >= 6

    clean = tmp_path / "clean"
    unbroken = _run_cli([*args, "--data", str(clean), "--quiet"])
    assert unbroken.returncode == 0, unbroken.stderr
    left = result_frame(DataDir(broken)).drop(columns=["evaluated_at"])
    right = result_frame(DataDir(clean)).drop(columns=["evaluated_at"])
    pd.testing.assert_frame_equal(left, right)

    # Secrecy: the canary is in the private run directory, and nowhere public or printed.
    assert CANARY in private_set.read_text() and not load_set(private_set).is_public
    for data_dir in (broken, clean):
        assert not (data_dir / "public" / "examples").exists()  # replies to a private set stay private
        for path in DataDir(data_dir).public_files():
            assert b"CANARY-b71e4c" not in path.read_bytes(), path
    for output in (resumed.stdout, resumed.stderr, unbroken.stdout, unbroken.stderr):
        assert "CANARY" not in output


def test_openai_model_and_judge_over_http_survive_429_500_and_slow_replies(tmp_path: Path) -> None:
    from evaluator.backends import BackendOptions
    from tests.support.openai_server import OpenAIServer
    from tests.support.responders import model_and_judge

    items = small_set(2)
    with OpenAIServer(model_and_judge) as server:
        throttled = server.fail(429, times=3, retry_after="0", when=lambda r: r.model == "model-a")
        broken = server.fail(500, times=2, when=lambda r: r.model == "judge-a")
        slow = server.slow(2.5, times=1, when=lambda r: r.model == "model-a")
        options = BackendOptions(base_url=server.url, timeout_s=1.0, concurrency=4)
        config = RunConfig(
            model="openai:model-a",
            item_set=items,
            judges=("openai:judge-a",),
            model_options=options,
            judge_options=options,
            bootstrap_rounds=100,
        )
        outcome = run_evaluation(config, DataDir(tmp_path), progress=False)
        assert outcome.complete, outcome.reason
        assert (throttled.hits, broken.hits, slow.hits) == (3, 2, 1)
        judged = [r for r in server.requests if r.model == "judge-a"]
        # Structured outputs were asked of the judge; the evaluated model got the raw conversation.
        assert all("response_format" in r.body for r in judged)
        assert not any(m["role"] == "system" for r in server.requests if r.model == "model-a" for m in r.messages)
    overall = next(r for r in outcome.rows if r["category"] == "overall")
    assert overall["model"] == "model-a" and overall["model_type"] == "api"
    assert overall["judge"] == "openai:judge-a" and overall["judge_official"] is True
    assert overall["n"] > 0 and overall["unscored"] == 0


def test_secrecy_audit_refuses_to_publish_rows_carrying_private_text(tmp_path: Path, private_set: Path) -> None:
    """If held-out text ever reached a result row (here through a hostile model name), the
    audit run before publishing stops it: nothing appears under results/."""
    items = load_set(private_set)
    leaked = items.items[0].turns[-1].content
    data = DataDir(tmp_path / "var")
    config = RunConfig(model="m", item_set=items, judges=("heuristic",), detection=False, bootstrap_rounds=50)
    outcome = run_evaluation(
        config, data, progress=False, backend=ScriptedBackend(supportive, name=leaked), judges=[HeuristicJudge()]
    )
    assert outcome.status == "incomplete"
    assert "secrecy audit" in (outcome.reason or "") and items.items[0].id in (outcome.reason or "")
    assert "CANARY" not in (outcome.reason or "")
    assert not list(data.public_files())

    clean = run_evaluation(
        config, data, progress=False, backend=ScriptedBackend(supportive, name="scripted:ok"), judges=[HeuristicJudge()]
    )
    assert clean.complete and len(list(data.public_files())) == 1
