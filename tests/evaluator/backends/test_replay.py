"""replay:FILE scores replies that already exist, with the same judge and metrics."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evaluator.backends import BackendError, BackendOptions, GenerationParams, SpecError, make_backend, parse_spec
from evaluator.backends.replay import MAX_LINE_BYTES, ReplayBackend
from evaluator.items import Item, ItemSet, load_set
from evaluator.judge.heuristic import HeuristicJudge
from evaluator.pipeline import RunConfig, run_evaluation
from evaluator.protocol.detection import detection_messages
from evaluator.storage import DataDir

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "evaluator" / "sample_sets" / "public-sample.jsonl"
SUPPORTIVE = (
    "I'm really sorry you're going through this; it makes sense that you feel overwhelmed. "
    "Are you safe right now? You can call or text 988, or talk to someone you trust. I'm here with you."
)


def _set(visibility: str = "public", per_category: int = 2) -> ItemSet:
    full = load_set(SAMPLE)
    picked: list[Item] = []
    counts: dict[str, int] = {}
    for item in full.items:
        if item.track == "support" and counts.get(item.category, 0) < per_category:
            counts[item.category] = counts.get(item.category, 0) + 1
            picked.append(item)
    return ItemSet("mini", "1", tuple(picked), visibility)


def _write(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _records(items: ItemSet, reply: str = SUPPORTIVE) -> list[dict[str, object]]:
    return [{"item_id": i.id, "reply": reply, "detection": i.category} for i in items.items]


def test_spec_parses_and_builds_a_replay_backend(tmp_path: Path) -> None:
    path = _write(tmp_path / "paper.jsonl", [{"item_id": "x", "reply": "hello"}])
    assert parse_spec(f"replay:{path}").kind == "replay"
    backend = make_backend(f"replay:{path}")
    assert isinstance(backend, ReplayBackend)
    assert backend.info.model_type == "replay" and backend.info.model == "replay:paper"
    with pytest.raises(SpecError):
        parse_spec("replay:")


def test_replies_are_scored_by_the_same_judge_and_rows_say_replay(tmp_path: Path) -> None:
    items = _set()
    path = _write(tmp_path / "logs.jsonl", _records(items))
    outcome = run_evaluation(
        RunConfig(model=f"replay:{path}", item_set=items, judges=("heuristic",), bootstrap_rounds=50),
        DataDir(tmp_path / "var"),
        progress=False,
        judges=[HeuristicJudge()],
    )
    assert outcome.status == "complete", outcome.reason
    assert {r["model_type"] for r in outcome.rows} == {"replay"}
    overall = next(r for r in outcome.rows if r["category"] == "overall")
    # Detection answers came from the file: every label right.
    assert overall["detection_accuracy"] == 1.0 and overall["miss_rate"] == 0.0
    assert overall["n"] == sum(1 for i in items.items if i.category != "no_crisis")

    # The same replies from a live scripted model get the same levels: one judge, one metric code.
    from tests.support.scripted import ScriptedBackend

    live = run_evaluation(
        RunConfig(model="scripted:live", item_set=items, judges=("heuristic",), bootstrap_rounds=50, detection=False),
        DataDir(tmp_path / "var2"),
        progress=False,
        backend=ScriptedBackend(lambda _: SUPPORTIVE, name="scripted:live"),
        judges=[HeuristicJudge()],
    )
    live_overall = next(r for r in live.rows if r["category"] == "overall")
    assert live_overall["mean_level"] == overall["mean_level"]
    assert live_overall["harm_rate"] == overall["harm_rate"]


def test_a_missing_item_fails_with_a_reason_not_a_default(tmp_path: Path) -> None:
    items = _set()
    records = _records(items)
    missing = records.pop(0)["item_id"]
    backend = ReplayBackend(str(_write(tmp_path / "partial.jsonl", records)))
    backend.bind(items)
    first = items.items[0]
    assert first.id == missing
    [reply] = backend.generate([first.messages], params=_params())
    assert not reply.ok and reply.text is None
    assert reply.error == f"ReplayMissing: partial.jsonl has no reply for item {missing!r}"
    # In a run the item is a failed generation: nothing is published as complete.
    outcome = run_evaluation(
        RunConfig(model="replay:x", item_set=items, judges=("heuristic",), bootstrap_rounds=20),
        DataDir(tmp_path / "var"),
        progress=False,
        backend=backend,
        judges=[HeuristicJudge()],
    )
    assert outcome.status == "incomplete" and outcome.rows == []
    assert "ReplayMissing" in (outcome.reason or "")


def test_detection_without_a_detection_field_fails(tmp_path: Path) -> None:
    items = _set(per_category=1)
    records: list[dict[str, object]] = [{"item_id": i.id, "reply": SUPPORTIVE} for i in items.items]
    backend = ReplayBackend(str(_write(tmp_path / "r.jsonl", records)))
    backend.bind(items)
    item = items.items[0]
    reply, detect = backend.generate([item.messages, detection_messages(item)], params=_params())
    assert reply.ok and reply.text == SUPPORTIVE
    assert not detect.ok and detect.error is not None and detect.error.startswith("ReplayMissing:")


def test_a_private_set_is_refused_unless_maintainer(tmp_path: Path) -> None:
    items = _set("private")
    path = _write(tmp_path / "logs.jsonl", _records(items))
    with pytest.raises(BackendError, match="private; replaying on it is for maintainers"):
        run_evaluation(
            RunConfig(model=f"replay:{path}", item_set=items, judges=("heuristic",), bootstrap_rounds=20),
            DataDir(tmp_path / "var"),
            progress=False,
            judges=[HeuristicJudge()],
        )
    assert not (tmp_path / "var" / "results").exists() or not any((tmp_path / "var" / "results").iterdir())
    outcome = run_evaluation(
        RunConfig(
            model=f"replay:{path}",
            item_set=items,
            judges=("heuristic",),
            bootstrap_rounds=20,
            model_options=BackendOptions(maintainer=True),
        ),
        DataDir(tmp_path / "var"),
        progress=False,
        judges=[HeuristicJudge()],
    )
    assert outcome.status == "complete", outcome.reason


def test_cli_maintainer_flag_needs_the_admin_token(tmp_path: Path) -> None:
    items_path = tmp_path / "private.jsonl"  # no manifest: a private set
    items_path.write_text(SAMPLE.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    item_id = json.loads(items_path.read_text())["id"]
    replay = _write(tmp_path / "r.jsonl", [{"item_id": item_id, "reply": SUPPORTIVE, "detection": "no_crisis"}])
    base = [sys.executable, "-m", "evaluator", "run", "--model", f"replay:{replay}", "--set", str(items_path)]
    base += ["--data", str(tmp_path / "var"), "--quiet", "--bootstrap-rounds", "20"]
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "CRISIS_ADMIN_TOKEN": "s3cret"}
    refused = subprocess.run(base, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert refused.returncode != 0 and "for maintainers" in refused.stderr
    in_argv = subprocess.run(
        [*base, "--maintainer", "--admin-token", "s3cret"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert in_argv.returncode == 2 and "--admin-token is refused" in in_argv.stderr and "s3cret" not in in_argv.stderr
    wrong_file = tmp_path / "wrong-token"
    wrong_file.write_text("nope\n", encoding="utf-8")
    wrong = subprocess.run(
        [*base, "--maintainer", "--admin-token-file", str(wrong_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert wrong.returncode != 0 and "needs the admin token" in wrong.stderr
    allowed = subprocess.run(
        [*base, "--maintainer"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert allowed.returncode == 0, allowed.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no replies"),
        (b'{"item_id": "a", "reply": "x"}\n{"item_id": "a", "reply": "y"}\n', "line 2: item 'a' appears twice"),
        (b"[1, 2]\n", "line 1: not a JSON object"),
        (b"\n{broken\n", "line 2: not a JSON object"),
        (b"[" * 100_000 + b"\n", "line 1: not a JSON object"),  # too deep for json: an error, not a crash
        (b'"\xff"\n', "line 1: not a JSON object"),
        (b'{"item_id": "", "reply": "x"}\n', "line 1: item_id must be a string"),
        (b'{"item_id": "a", "reply": 3}\n', "line 1: reply must be a string"),
        (b'{"item_id": "a", "reply": "x", "detection": 1}\n', "line 1: detection must be a string"),
        (b'{"item_id": "a", "reply": "' + b"x" * MAX_LINE_BYTES + b'"}\n', "line 1: longer than"),
    ],
)
def test_bad_replay_files_are_one_line_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(BackendError, match=message):
        ReplayBackend(str(path))
    with pytest.raises(BackendError, match="no such file"):
        ReplayBackend(str(tmp_path / "absent.jsonl"))


def _params() -> GenerationParams:
    return GenerationParams()
