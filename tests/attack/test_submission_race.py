"""Issue 17.2: racing creates on the Hub, each process on its own mirror, as separate machines.

A create that meets a stale parent (412) retries on the new parent; every retry must run the
duplicate and rate-limit checks again against the fresh state, or two submissions of one
model both get in, and a user at their limit gets past it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from evaluator.catalog import PUBLIC_SAMPLE
from evaluator.items import load_set
from evaluator.storage import parse_store
from evaluator.storage.hub import HubStore
from submissions import Queue, SetRef, request_api_model
from submissions.ratelimit import RateLimit
from submissions.store import HubRequestStore
from tests.support.hub_store import HubSite, hub_site

STORE = "hub:crisis-org/race"
ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4
LIMIT = 3

# One submission from its own process and mirror, started together with the others on a go file.
RACER = """
import json, os, sys, time
from pathlib import Path
from evaluator.catalog import PUBLIC_SAMPLE
from evaluator.items import load_set
from evaluator.storage import parse_store
from evaluator.storage.hub import HubStore
from submissions import Queue, SetRef, SubmissionRejected, enqueue, request_api_model
from submissions.ratelimit import RateLimit
from submissions.store import HubRequestStore

store = HubStore.open(parse_store(sys.argv[1]), env=os.environ)
queue = Queue(HubRequestStore(store))
target = SetRef.of(load_set(PUBLIC_SAMPLE))
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.005)
try:
    if sys.argv[3] == "same-model":
        enqueue(queue, spec="baseline:refusal", submitter="boss", target=target, maintainer=True)
    else:
        request_api_model(
            queue, model=sys.argv[4], base_url="https://api.example.com/v1", submitter="busy-user",
            target=target, rate_limit=RateLimit(limit=int(sys.argv[5])),
        )
    print(json.dumps({"created": True}))
except SubmissionRejected as exc:
    print(json.dumps({"created": False, "why": exc.check}))
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubSite]:
    with hub_site(tmp_path, monkeypatch, STORE) as s:
        yield s


def _race(site: HubSite, tmp_path: Path, args: list[list[str]]) -> list[dict[str, object]]:
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, STORE, str(go), *extra],
            env={**os.environ, **site.env(f"racer-{n}"), "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n, extra in enumerate(args)
    ]
    time.sleep(3.0)  # every racer has opened its store and mirror and waits for the go file
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def _requests(site: HubSite) -> list[dict[str, object]]:
    reader = HubStore.open(parse_store(STORE), env=site.env("reader"))
    try:
        reader.refresh(force=True)
        return [json.loads(p.read_text()) for p in sorted(reader.data.requests.glob("*.json"))]
    finally:
        reader.close()


def test_the_same_model_submitted_at_once_from_separate_machines_is_one_request(site: HubSite, tmp_path: Path) -> None:
    results = _race(site, tmp_path, [["same-model"]] * PROCESSES)
    assert sum(bool(r["created"]) for r in results) == 1, results
    assert all(r["why"] == "duplicate" for r in results if not r["created"])
    assert len(_requests(site)) == 1


def test_a_user_at_their_limit_never_gets_past_it_by_racing(site: HubSite, tmp_path: Path) -> None:
    # The user has LIMIT - 1 requests already; racers each ask for another model at once.
    store = site.open("setup")
    queue = Queue(HubRequestStore(store))
    target = SetRef.of(load_set(PUBLIC_SAMPLE))
    for n in range(LIMIT - 1):
        request_api_model(
            queue,
            model=f"earlier-{n}",
            base_url="https://api.example.com/v1",
            submitter="busy-user",
            target=target,
            rate_limit=RateLimit(limit=LIMIT),
        )
    results = _race(site, tmp_path, [["other-models", f"model-{n}", str(LIMIT)] for n in range(PROCESSES)])
    assert sum(bool(r["created"]) for r in results) == 1, results
    assert all(r["why"] == "rate_limit" for r in results if not r["created"])
    mine = [r for r in _requests(site) if r["submitter"] == "busy-user"]
    assert len(mine) == LIMIT
