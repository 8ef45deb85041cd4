"""Issue 17.4: a key goes only to the host it is configured for; the judge's key never to a model.

An approved API model's base URL is the submitter's choice. The worker used to send it
$OPENAI_API_KEY (the judge's key by default) whenever its host was not in $CRISIS_API_KEYS.
Real HTTP to the local OpenAI-compatible server, which records every request's headers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluator.backends import make_backend
from evaluator.backends.base import GenerationParams
from evaluator.storage import DataDir
from evaluator.worker import Worker, WorkerConfig, backend_for
from submissions import Queue, enqueue
from submissions.records import Status
from submissions.store import LocalRequestStore
from submissions.target import SetRef
from tests.support.openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parents[2]
JUDGE_KEY = "sk-judge-secret-0001"
PARTNER_KEY = "sk-partner-secret-0002"


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", JUDGE_KEY)
    monkeypatch.setenv("PARTNER_KEY", PARTNER_KEY)
    monkeypatch.setenv("CRISIS_API_KEYS", "api.partner.example=PARTNER_KEY")
    monkeypatch.delenv("CRISIS_API_KEY_ENV", raising=False)


def _auth_headers_seen(server: OpenAIServer, base_url: str) -> list[str | None]:
    from evaluator.backends.spec import parse_spec
    from submissions.records import RequestRecord, utcnow

    now = utcnow()
    record = RequestRecord(
        id="r1",
        model="test-model",
        model_type="api",
        spec="openai:test-model",
        base_url=base_url,
        submitter="someone",
        submitted_at=now,
        updated_at=now,
    )
    spec, options = backend_for(record, WorkerConfig(name="w"))
    backend = make_backend(parse_spec(spec), options)
    try:
        backend.generate([[{"role": "user", "content": "hello"}]], GenerationParams(max_new_tokens=16))
    finally:
        getattr(backend, "close", lambda: None)()
    return [r.headers.get("authorization") for r in server.requests]


def test_an_unknown_host_gets_no_key_at_all() -> None:
    with OpenAIServer() as server:
        seen = _auth_headers_seen(server, server.url)
    assert seen and all(h is None for h in seen), seen
    assert not any(JUDGE_KEY in (h or "") or PARTNER_KEY in (h or "") for h in seen)


def test_the_judges_key_is_never_configured_for_a_model_host(monkeypatch: pytest.MonkeyPatch) -> None:
    # Even a mapping that names the judge's variable for the model's host sends nothing.
    monkeypatch.setenv("CRISIS_API_KEYS", "127.0.0.1=OPENAI_API_KEY")
    with OpenAIServer() as server:
        seen = _auth_headers_seen(server, server.url)
    assert seen and all(JUDGE_KEY not in (h or "") for h in seen), seen


def test_a_configured_host_gets_its_own_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRISIS_API_KEYS", "127.0.0.1=PARTNER_KEY")
    with OpenAIServer() as server:
        seen = _auth_headers_seen(server, server.url)
    assert seen and all(h == f"Bearer {PARTNER_KEY}" for h in seen), seen


def test_an_unknown_host_that_wants_a_key_says_so_in_the_reason(tmp_path: Path) -> None:
    from evaluator.catalog import PUBLIC_SAMPLE
    from evaluator.items import load_set

    data = DataDir(tmp_path / "var")
    queue = Queue(LocalRequestStore(data), max_attempts=1)
    with OpenAIServer(api_key="sk-the-endpoints-own") as server:
        record = enqueue(
            queue,
            spec="openai:test-model",
            base_url=server.url,
            submitter="boss",
            target=SetRef.of(load_set(PUBLIC_SAMPLE)),
            maintainer=True,
        )
        worker = Worker(WorkerConfig(data=str(data.root), name="w-keys", bootstrap_rounds=20), queue=queue)
        worker.tick()
        assert server.requests and all(r.headers.get("authorization") is None for r in server.requests)
    failed = queue.get(record.id)
    assert failed.status == Status.FAILED
    assert "no API key is configured for 127.0.0.1" in (failed.reason or ""), failed.reason
