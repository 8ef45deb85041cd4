"""Submissions, API model requests and maintainers' enqueues, end to end on a data directory."""

from __future__ import annotations

import json
import multiprocessing as mp
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from evaluator.storage import DataDir
from submissions.errors import NotAllowed, SubmissionRejected
from submissions.intake import enqueue, request_api_model, submit
from submissions.queue import Queue
from submissions.ratelimit import RateLimit
from submissions.records import Status
from submissions.store import LocalRequestStore
from submissions.validation import Validator
from tests.submissions.conftest import TARGET, FakeClock, make_validator
from tests.support.hub import ScriptedHub

GOOD = "good-org/good-model"


def test_submit_writes_one_public_record(queue: Queue, validator: Validator, data: DataDir, hub: ScriptedHub) -> None:
    record = submit(queue, validator, model=GOOD, revision="v1", precision="float16", submitter="alice")
    path = data.requests / f"{record.id}.json"
    on_disk = json.loads(path.read_text())
    sha = hub.models[GOOD].revisions["v1"]
    assert on_disk["status"] == "PENDING" and on_disk["sha"] == sha and on_disk["revision"] == "v1"
    assert on_disk["spec"] == f"hf:{GOOD}@{sha}" and on_disk["model_type"] == "open-weight"
    assert on_disk["set_name"] == "heldout" and on_disk["set_version"] == "v1" and on_disk["attempts"] == 0
    assert on_disk["params"] == 1_500_000_000 and on_disk["license"] == "apache-2.0" and on_disk["chat"] is True
    assert queue.position(record.id) == 1
    # Only requests/ is public; the lock and index files live in the private queue/ area.
    assert [p.name for p in data.requests.iterdir()] == [path.name]


def test_second_submission_of_the_same_model_is_a_duplicate(queue: Queue, validator: Validator) -> None:
    submit(queue, validator, model=GOOD, submitter="alice")
    with pytest.raises(SubmissionRejected) as info:
        submit(queue, validator, model=GOOD, submitter="bob")
    assert info.value.check == "duplicate" and "queued" in info.value.reason


def test_maintainer_submissions_jump_the_queue(queue: Queue, clock: FakeClock) -> None:
    models = [ScriptedHub.good(f"org/m{i}") for i in range(3)]
    validator = make_validator(ScriptedHub(*models), clock)
    first = submit(queue, validator, model="org/m0", submitter="alice")
    clock.advance(seconds=1)
    second = submit(queue, validator, model="org/m1", submitter="bob")
    clock.advance(seconds=1)
    urgent = submit(queue, validator, model="org/m2", submitter="boss", maintainer=True)
    assert queue.positions() == {urgent.id: 1, first.id: 2, second.id: 3}


def test_rate_limit_counts_stored_requests(queue: Queue, clock: FakeClock) -> None:
    models = [ScriptedHub.good(f"org/m{i}") for i in range(7)]
    validator = make_validator(ScriptedHub(*models), clock)
    for i in range(5):
        submit(queue, validator, model=f"org/m{i}", submitter="alice")
    with pytest.raises(SubmissionRejected) as info:
        submit(queue, validator, model="org/m5", submitter="alice")
    assert info.value.check == "rate_limit"
    clock.advance(days=7, seconds=1)
    submit(queue, validator, model="org/m5", submitter="alice")


def _submit_in_process(root: str, barrier: Barrier, out: mp.Queue[str]) -> None:
    from tests.submissions.conftest import FakeClock as Clock

    clock = Clock()
    queue = Queue(LocalRequestStore(DataDir(Path(root))), clock=clock)
    validator = make_validator(ScriptedHub(ScriptedHub.good()), clock)
    barrier.wait()
    try:
        submit(queue, validator, model=GOOD, submitter="alice")
        out.put("ok")
    except SubmissionRejected as exc:
        out.put(exc.check)


def test_racing_submissions_of_one_model_store_one_request(data: DataDir) -> None:
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(4)
    results: mp.Queue[str] = ctx.Queue()
    procs = [ctx.Process(target=_submit_in_process, args=(str(data.root), barrier, results)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    outcomes = sorted(results.get(timeout=5) for _ in procs)
    assert outcomes == ["duplicate", "duplicate", "duplicate", "ok"]
    assert len(list(data.requests.glob("*.json"))) == 1


def test_api_model_request_needs_approval(queue: Queue) -> None:
    limit = RateLimit()
    record = request_api_model(
        queue,
        model="gpt-x-2025",
        base_url="https://api.example.com/v1/",
        submitter="alice",
        target=TARGET,
        rate_limit=limit,
    )
    assert record.status == Status.PENDING_APPROVAL and record.spec == "openai:gpt-x-2025"
    assert record.base_url == "https://api.example.com/v1" and record.model_type == "api"
    assert queue.claim("w") is None
    with pytest.raises(SubmissionRejected, match="awaiting approval"):
        request_api_model(
            queue,
            model="gpt-x-2025",
            base_url="https://api.example.com/v1",
            submitter="bob",
            target=TARGET,
            rate_limit=limit,
        )
    queue.approve(record.id, maintainer=True)
    lease = queue.claim("w")
    assert lease is not None and lease.request_id == record.id


@pytest.mark.parametrize(
    ("model", "url", "fragment"),
    [
        ("gpt-x", "https://key:sk-123@api.example.com/v1", "credentials"),
        ("gpt-x", "https://api.example.com/v1?key=sk-123", "query"),
        ("../gpt", "https://api.example.com/v1", "start with a letter"),
        ("gpt x", "https://api.example.com/v1", "whitespace"),
    ],
)
def test_api_model_request_rejections_write_nothing(
    queue: Queue, data: DataDir, model: str, url: str, fragment: str
) -> None:
    with pytest.raises(SubmissionRejected) as info:
        request_api_model(queue, model=model, base_url=url, submitter="alice", target=TARGET, rate_limit=RateLimit())
    assert fragment in info.value.reason and "sk-123" not in info.value.reason
    assert not data.root.exists()


def test_enqueue_is_for_maintainers(queue: Queue) -> None:
    with pytest.raises(NotAllowed):
        enqueue(queue, spec="baseline:refusal", submitter="alice", target=TARGET, maintainer=False)
    record = enqueue(queue, spec="baseline:refusal", submitter="boss", target=TARGET, maintainer=True)
    assert record.status == Status.PENDING and record.model_type == "baseline" and record.spec == "baseline:refusal"
    with pytest.raises(SubmissionRejected, match="queued"):
        enqueue(queue, spec="baseline:refusal", submitter="boss", target=TARGET, maintainer=True)
    api = enqueue(
        queue,
        spec="openai:gpt-x",
        base_url="http://localhost:8000/v1",
        submitter="boss",
        target=TARGET,
        maintainer=True,
    )
    assert api.status == Status.PENDING and api.base_url == "http://localhost:8000/v1"


@pytest.mark.parametrize(
    ("spec", "base_url", "fragment"),
    [
        ("baseline:nope", None, "unknown baseline"),
        ("baseline:refusal", "https://x/v1", "no --base-url"),
        ("openai:gpt-x", None, "needs --base-url"),
        ("hf:org/name", None, "submit --model"),
        ("nonsense", None, "unknown model spec"),
    ],
)
def test_enqueue_rejections(queue: Queue, spec: str, base_url: str | None, fragment: str) -> None:
    with pytest.raises(SubmissionRejected, match=fragment):
        enqueue(queue, spec=spec, base_url=base_url, submitter="boss", target=TARGET, maintainer=True)
