"""Conversation runs (issue 21): throughput offline, and wall time through an API.

1. Offline: 1,000 conversations x 8 turns with the script simulator, a zero-latency scripted
   model and the offline judge, through `run_conversations` (per-turn persistence, caches,
   per-turn checklist, C1-C5, figures, publishing) against a minimal loop doing only the
   irreducible work on the same personas: build each turn's messages, get the model's reply,
   judge the turn (which also tells the script what the reply did), pick the next scripted
   message, then score (worst turn, harm rate). Goal: >= 0.5x the minimal loop's rate.
2. API: the model behind the OpenAI-compatible test server (real HTTP, 100 ms per request)
   at concurrency 32; wall time against the ideal turns x ceil(conversations / 32) x 100 ms.
   Goal: <= 1.15x. The server runs in its own process, as a real API runs elsewhere: in this
   one it would share the interpreter lock with the client and bill its own request handling
   (header parsing, JSON, a thread per connection) to the run. Best of --api-rounds runs,
   each interleaved with the reference (the same batches straight through the backend); every
   round's ratio and the load average are printed.

Both figures come from parts written by the same team as the code (the scripted model, the
test server): they are upper bounds on what a real model and API give.

    PYTHONPATH=. python benchmarks/conversations.py [--conversations 1000] [--api-conversations 128] [--api-rounds 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from evaluator.audit import normalise
from evaluator.backends import BackendOptions
from evaluator.backends.base import Conversation
from evaluator.conversation.offline import reaction, reply_features
from evaluator.conversation.persona import Persona, PersonaSet, persona_from_json
from evaluator.conversation.run import ConversationConfig, run_conversations
from evaluator.items import Item, Turn
from evaluator.judge.heuristic import HeuristicJudge
from evaluator.judge.prompts import INVISIBLE
from evaluator.judge.verdict import JudgeTask
from evaluator.protocol.taxonomy import CATEGORIES, NO_CRISIS
from evaluator.storage import DataDir, RunSink
from tests.support.scripted import ScriptedBackend

TURNS = 8
REPLIES = (
    "I'm really sorry it feels this heavy. Are you safe right now? If you might act on these thoughts, please "
    "call or text a crisis line such as 988, or your local emergency number. I'm here to keep talking.",
    "That sounds exhausting. What has been the hardest part of today? Is there someone you trust nearby?",
    "Thank you for telling me. You don't have to handle this alone; could you reach out to a doctor this week?",
)


def personas(n: int) -> PersonaSet:
    out: list[Persona] = []
    for i in range(n):
        category = CATEGORIES[i % len(CATEGORIES)]
        script = [
            {
                "asked_safety": f"I'm at home, nothing has happened ({i}, {t}).",
                "gave_resource": f"I'm not sure I could call them ({i}, {t}).",
                "other": f"It has been a long week and I keep going over it ({i}, {t}).",
            }
            for t in range(TURNS - 1)
        ]
        out.append(
            persona_from_json(
                {
                    "id": f"bench-{i:05d}",
                    "category": category,
                    "risk": "none" if category == NO_CRISIS else "high",
                    "disclosure": "explicit",
                    "opening": f"Benchmark person {i}: everything has felt heavy lately and I can't sleep.",
                    "profile": "A synthetic benchmark persona.",
                    "max_turns": TURNS,
                    "script": script,
                }
            )
        )
    return PersonaSet("bench-personas", "1", tuple(out), "private")


def respond(conversation: Conversation) -> str:
    return REPLIES[len(conversation) % len(REPLIES)]


def http_respond(model: str, messages: list[dict[str, Any]]) -> str:
    """The test server's responder: the same replies as the scripted model."""
    return respond(messages)


@contextmanager
def served(latency: float, stats: dict[str, int]) -> Iterator[str]:
    """The OpenAI-compatible test server in its own process; its base URL. On exit, `stats`
    gets what it served (requests, max_in_flight)."""
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "tests.support.openai_server", "--latency", str(latency)]
    command += ["--model", "bench-model", "--responder", "benchmarks.conversations:http_respond"]
    proc = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"the test server did not start (printed {url!r})")
        yield url
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
        lines = out.strip().splitlines()
        if lines:
            stats.update(json.loads(lines[-1]))


def minimal_loop(persona_set: PersonaSet) -> float:
    """Messages, reply, judge (whose features pick the script's branch), next message; then score."""
    judge = HeuristicJudge()
    start = time.perf_counter()
    harmful = 0
    for persona in persona_set.personas:
        messages: list[dict[str, str]] = [{"role": "user", "content": persona.opening}]
        worst = 5
        for turn in range(TURNS):
            reply = respond(messages)
            item = Item(
                id=f"{persona.id}#{turn + 1}",
                category=persona.category,
                signal=persona.signal,
                turns=tuple(Turn(m["role"], m["content"]) for m in messages),
            )
            verdict = judge.judge_one(JudgeTask(item, reply)).verdict
            worst = min(worst, verdict.level if verdict else 1)
            messages.append({"role": "assistant", "content": reply})
            if turn + 1 < TURNS:
                did = reaction(reply_features(persona, messages[:-1], reply))
                text, _ = persona.script[turn].message(did)
                messages.append({"role": "user", "content": text})
        harmful += worst == 1
    _ = harmful / len(persona_set.personas)
    return time.perf_counter() - start


def pipeline(persona_set: PersonaSet) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        backend = ScriptedBackend(respond, record_calls=False)
        config = ConversationConfig(model="scripted:bench", personas=persona_set)
        start = time.perf_counter()
        outcome = run_conversations(config, DataDir.at(tmp), progress=False, backend=backend, judges=[HeuristicJudge()])
        elapsed = time.perf_counter() - start
        assert outcome.complete, outcome.reason
    return elapsed


def api_run(persona_set: PersonaSet, latency: float, concurrency: int) -> tuple[float, float, int]:
    """(seconds until every conversation is finished, seconds for the whole run, peak requests in flight)."""
    marks: dict[str, float] = {}

    class Marking(RunSink):
        """The run's sink, noting when the run opened and when each stage point came."""

        def open(self, run_id: str) -> Path:
            marks.setdefault("start", time.perf_counter())
            return super().open(run_id)

        def checkpoint(self, stage: str) -> None:
            marks.setdefault(stage, time.perf_counter())
            super().checkpoint(stage)

    stats: dict[str, int] = {}
    with served(latency, stats) as url, tempfile.TemporaryDirectory() as tmp:
        options = BackendOptions(base_url=url, concurrency=concurrency, timeout_s=30)
        config = ConversationConfig(model="openai:bench-model", personas=persona_set, model_options=options)
        judges = [HeuristicJudge()]
        sink = Marking.local(Path(tmp))
        outcome = run_conversations(config, sink.data, progress=False, judges=judges, sink=sink)
        end = time.perf_counter()
        assert outcome.complete, outcome.reason
    return marks["generated"] - marks["start"], end - marks["start"], stats.get("max_in_flight", -1)


def backend_only(n: int, latency: float, concurrency: int) -> float:
    """The same number of batches of the same size straight through the backend: its own cost."""
    from evaluator.backends import make_backend
    from evaluator.backends.base import GenerationParams

    with served(latency, {}) as url:
        options = BackendOptions(base_url=url, concurrency=concurrency, timeout_s=30)
        backend = make_backend("openai:bench-model", options)
        start = time.perf_counter()
        for turn in range(TURNS):
            backend.generate([[{"role": "user", "content": f"{i} {turn}"}] for i in range(n)], GenerationParams())
        elapsed = time.perf_counter() - start
        backend.close()
    return elapsed


def clear_features() -> None:
    from evaluator.conversation import offline

    offline._features.cache_clear()


def best(times: Sequence[float]) -> float:
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--api-conversations", type=int, default=128)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--api-rounds", type=int, default=3)
    args = parser.parse_args()

    # Compile the text-normalisation tables once, as any long-running worker has: a one-off
    # cost of the process, not of a run.
    normalise("warm up")
    INVISIBLE.sub("", "warm up")
    offline = personas(args.conversations)
    turns = args.conversations * TURNS
    # Interleaved rounds, best of each: the machine is shared, and the other side's load
    # should fall on both measurements alike.
    floor_times, run_times = [], []
    for _ in range(args.rounds):
        # Each side starts with the shared reply-feature memo empty: neither reuses the other's work.
        clear_features()
        floor_times.append(minimal_loop(offline))
        clear_features()
        run_times.append(pipeline(offline))
    floor, run = best(floor_times), best(run_times)
    ratio = floor / run
    print(f"offline: {args.conversations:,} conversations x {TURNS} turns = {turns:,} model turns")
    print(f"  conversation run: {run:7.2f} s = {turns / run:8.0f} turns/s (persist, caches, judge, C1-C5, publish)")
    print(f"  minimal loop:     {floor:7.2f} s = {turns / floor:8.0f} turns/s (messages, reply, judge, script, score)")
    print(f"  run / minimal loop rate: {ratio:.2f} (goal >= 0.5) {'PASS' if ratio >= 0.5 else 'FAIL'}")

    api = personas(args.api_conversations)
    ideal = TURNS * math.ceil(args.api_conversations / args.concurrency) * args.latency
    # Interleaved rounds, best of each, as offline: on a shared machine a neighbour's burst
    # lands on one round, not on the code. Each round is a fresh run (its own data and cache).
    load_before = os.getloadavg()[0]
    runs, alones = [], []
    for _ in range(args.api_rounds):
        clear_features()
        runs.append(api_run(api, args.latency, args.concurrency))
        alones.append(backend_only(args.api_conversations, args.latency, args.concurrency))
    conversing, whole, peak = min(runs)
    alone = best(alones)
    print(
        f"api: {args.api_conversations} conversations x {TURNS} turns, {args.latency * 1000:.0f} ms per request, "
        f"concurrency {args.concurrency} (peak in flight {peak}); test server in its own process"
    )
    rounds = ", ".join(f"{r[0] / ideal:.2f}x" for r in runs)
    print(f"  rounds: {rounds}; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    verdict = "PASS" if conversing / ideal <= 1.15 else "FAIL"
    print(
        f"  conversations {conversing:.2f} s vs ideal {ideal:.2f} s: {conversing / ideal:.2f}x (goal <= 1.15) {verdict}"
    )
    print(f"  whole run with the offline judge and publishing: {whole:.2f} s ({whole / ideal:.2f}x the ideal)")
    print(
        f"  reference: the same {TURNS} batches straight through the openai backend take {alone:.2f} s "
        f"({alone / ideal:.2f}x the ideal); the conversation loop adds {conversing / alone:.2f}x to that"
    )


if __name__ == "__main__":
    main()
