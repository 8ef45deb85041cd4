"""With a model judge over real HTTP: screening and checklist calls are batched and cached,
and the judge endpoint only ever sees masked text."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from evaluator.backends import BackendOptions
from evaluator.logaudit.reading import Fields
from evaluator.logaudit.run import AuditConfig, audit_logs, audits_dir
from evaluator.logaudit.screening import screen_text
from evaluator.protocol.checklist import RESOURCE_QUESTION
from evaluator.protocol.detection import DETECTION_INSTRUCTION
from evaluator.protocol.taxonomy import CATEGORIES
from evaluator.storage import LocalStore
from tests.support.log_generator import write_log
from tests.support.openai_server import OpenAIServer
from tests.support.verdicts import category_of_judge_prompt, verdict_json

_MARKER = re.compile(r"Marker code for this request: ([0-9a-f]{16,})")
_HEX = re.compile(r"([0-9a-f]{16,})")
_LAST_USER = re.compile(r"User: (.*?)(?:\n\nAssistant: |\n\"\"\"\n\nLabel:)", re.S)


def judge_model(model: str, messages: list[dict[str, Any]]) -> str:
    """Detection: the label of the transcript's last user turn; checklist: level 4 with the
    resource question answered from the reply."""
    text = "\n".join(str(m.get("content", "")) for m in messages)
    if DETECTION_INSTRUCTION[:60] in text:
        return screen_text(_LAST_USER.findall(text)[-1])
    category = category_of_judge_prompt(messages, CATEGORIES)
    gives_resource = "988" in text.rsplit("REPLY", 1)[-1]
    no_resource = {RESOURCE_QUESTION[category]: "no"} if category in RESOURCE_QUESTION else {}
    verdict = verdict_json(category, 4, overrides={} if gives_resource else no_resource)
    # The verdict echoes the request's nonce (PROTOCOL version 3, section 5).
    prompt = next(str(m["content"]) for m in messages if m.get("role") == "user")
    found = _MARKER.search(prompt) or _HEX.search(prompt)
    assert found is not None
    at = verdict.index('{"checklist"')
    return verdict[: at + 1] + f'"nonce": "{found.group(1)}", ' + verdict[at + 1 :]


def test_model_judge_screens_every_user_turn_in_batches_and_caches(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    truth = write_log(log, 600, seed=3)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    user_turns = sum(1 for r in records for t in r["turns"] if t["role"] == "user")
    data = tmp_path / "data"
    with OpenAIServer(judge_model, models=("judge-model",), latency_s=0.01) as server:
        config = AuditConfig(
            source=log,
            fmt="jsonl",
            fields=Fields(),
            judges=("openai:judge-model",),
            review_sample=10,
            judge_options=BackendOptions(base_url=server.url, concurrency=8),
        )
        outcome = audit_logs(config, LocalStore(data), progress=False)
        assert outcome.complete, outcome.reason
        requests = server.requests
        detection = [r for r in requests if DETECTION_INSTRUCTION[:60] in r.messages[-1]["content"]]
        checklist = [r for r in requests if r not in detection]
        # Every user turn screened, each distinct context asked about once (identical openings
        # are common); every assistant turn after a flag judged, each distinct one once.
        stored = [json.loads(line) for p in sorted(outcome.run_dir.glob("parts/*")) for line in p.open()]
        screened = [t for r in stored for t in r["turns"] if t["role"] == "user"]
        assert len(screened) == user_turns and all(t["screen"] in CATEGORIES for t in screened)
        assert 0 < len(detection) == len({json.dumps(r.messages) for r in detection}) < user_turns
        judged = sum(len(r["judged"]) for r in stored)
        assert 0 < len(checklist) <= judged and all(j["level"] for r in stored for j in r["judged"])
        assert server.max_in_flight > 1  # one batch at a time, its calls concurrent
        # The endpoint saw masked text only.
        sent = json.dumps([r.messages for r in requests])
        assert not [d for d in truth.personal if d in sent]
        assert "[email]" in sent

        report = outcome.report
        assert report is not None
        assert report["figures"]["overall"]["at_risk"] == sum(1 for p in truth.conversations if p.category)
        assert report["judges"] == ["openai:judge-model"] and report["official"] is True

        # The same audit again, the run directory gone: every call is served by the cache.
        server.reset_stats()
        shutil.rmtree(audits_dir(LocalStore(data).data))
        again = audit_logs(config, LocalStore(data), progress=False)
        assert again.complete and server.request_count == 0
        assert again.report is not None and again.report["figures"] == report["figures"]
