"""Log audit throughput and memory: 2,000, 20,000 and 200,000 generated conversations.

Each size runs in a subprocess of its own, so its peak RSS (ru_maxrss) is its own: the
subprocess audits a generated JSONL log with the offline judge (`heuristic`) into a fresh
data directory, from the first read to the written report, and reports conversations per
second and its peak RSS. Then, in the same subprocess and on the same turns, it times the
offline judge's own work alone: the screen on every user turn and the checklist judge on the
assistant turns after each first flag, with nothing read from disk, masked or written (time
spent inside those calls only). Goals (issue 22): peak RSS flat (largest within 1.2x of the
smallest) and the audit's rate within 2x of the offline judge's own rate.

    PYTHONPATH=. python benchmarks/log_audit.py [--sizes 2000 20000 200000]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _judge_alone(log: Path) -> tuple[float, float, int]:
    """The offline judge alone on the log's turns: screen every user turn, judge the assistant
    turns after each first flag. Only the time inside those calls counts (wall, CPU)."""
    import orjson

    from evaluator.judge.heuristic import HeuristicJudge
    from evaluator.logaudit.judging import judge_task
    from evaluator.logaudit.reading import LogTurn
    from evaluator.logaudit.screening import screen_text
    from evaluator.protocol.taxonomy import CRISIS_CATEGORIES

    judge = HeuristicJudge()
    own_s = own_cpu = 0.0
    judged = 0
    with open(log, "rb") as fh:
        for line in fh:
            record = orjson.loads(line)
            turns = [LogTurn(t["role"], t["content"]) for t in record["turns"]]
            t0, c0 = time.perf_counter(), time.process_time()
            labels = [screen_text(t.text) if t.role == "user" else None for t in turns]
            own_s, own_cpu = own_s + time.perf_counter() - t0, own_cpu + time.process_time() - c0
            flag = next((i for i, label in enumerate(labels) if label in CRISIS_CATEGORIES), None)
            if flag is None:
                continue
            category = labels[flag] or ""
            after = [j for j in range(flag + 1, len(turns)) if turns[j].role == "assistant"]
            tasks = [judge_task(category, turns[:j], turns[j].text) for j in after]
            t0, c0 = time.perf_counter(), time.process_time()
            judge.judge(tasks)
            own_s, own_cpu = own_s + time.perf_counter() - t0, own_cpu + time.process_time() - c0
            judged += len(tasks)
    return own_s, own_cpu, judged


def _child(log: Path, data: Path, rounds: int) -> dict[str, Any]:
    from evaluator.judge.factory import make_judge
    from evaluator.logaudit.run import AuditConfig, audit_logs
    from evaluator.storage import LocalStore

    make_judge("heuristic")  # imports and pattern compilation: paid once per process, not per conversation
    audits: list[tuple[float, float]] = []
    alone: list[tuple[float, float]] = []
    report: dict[str, Any] = {}
    judged = 0
    # Interleaved rounds, best of each: the machine is shared, and a round that another
    # process slowed says nothing about the code.
    for round_ in range(rounds):
        own_s, own_cpu, judged = _judge_alone(log)
        alone.append((own_s, own_cpu))
        started, cpu_started = time.perf_counter(), time.process_time()
        outcome = audit_logs(AuditConfig(source=log, fmt="jsonl"), LocalStore(data / str(round_)), progress=False)
        audits.append((time.perf_counter() - started, time.process_time() - cpu_started))
        assert outcome.complete and outcome.report is not None
        report = outcome.report
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    conversations = report["conversations"]
    audit_s, audit_cpu = min(a[0] for a in audits), min(a[1] for a in audits)
    own_s, own_cpu = min(a[0] for a in alone), min(a[1] for a in alone)
    return {
        "conversations": conversations,
        "audit_s": audit_s,
        "rate": conversations / audit_s,
        "peak_rss_mib": peak_kib / 1024,
        "judge_own_s": own_s,
        "judge_own_rate": conversations / own_s,
        "audit_cpu_s": audit_cpu,
        "judge_own_cpu_s": own_cpu,
        "judged_turns": judged,
        "at_risk": report["figures"]["overall"]["at_risk"],
        "rounds": rounds,
    }


def _run_size(size: int, work: Path, rounds: int) -> dict[str, Any]:
    from tests.support.log_generator import write_log

    log = work / f"log-{size}.jsonl"
    write_log(log, size, seed=1)
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(log), str(work / f"data-{size}"), str(rounds)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["log_mib"] = log.stat().st_size / 1024**2
    log.unlink()
    shutil.rmtree(work / f"data-{size}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2_000, 20_000, 200_000])
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds per size, best of each (default 2)")
    parser.add_argument("--child", nargs=3, metavar=("LOG", "DATA", "ROUNDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(Path(args.child[0]), Path(args.child[1]), int(args.child[2]))))
        return 0
    results = []
    with tempfile.TemporaryDirectory(prefix="log-audit-bench-") as tmp:
        for size in args.sizes:
            result = _run_size(size, Path(tmp), args.rounds)
            results.append(result)
            print(
                f"{size:>8,} conversations ({result['log_mib']:.0f} MiB log, {result['at_risk']:,} at risk, "
                f"{result['judged_turns']:,} turns judged): audit {result['rate']:,.0f} conv/s "
                f"({result['audit_s']:.1f} s wall, {result['audit_cpu_s']:.1f} s CPU), peak RSS "
                f"{result['peak_rss_mib']:.0f} MiB; offline judge alone {result['judge_own_rate']:,.0f} conv/s "
                f"({result['judge_own_s']:.1f} s wall, {result['judge_own_cpu_s']:.1f} s CPU); audit / judge alone: "
                f"{result['audit_s'] / result['judge_own_s']:.2f}x wall, "
                f"{result['audit_cpu_s'] / result['judge_own_cpu_s']:.2f}x CPU",
                flush=True,
            )
    rss = [r["peak_rss_mib"] for r in results]
    wall = [r["audit_s"] / r["judge_own_s"] for r in results]
    # CPU time is the steady measure on this shared 2-core machine: wall time also counts the
    # other engineers' processes, more often the longer a step takes.
    cpu = [r["audit_cpu_s"] / r["judge_own_cpu_s"] for r in results]
    flat = max(rss) / min(rss)
    print(f"peak RSS largest/smallest: {rss[-1] / rss[0]:.3f}x (max/min {flat:.3f}x; goal <= 1.2x)")
    print(f"audit time / offline judge's own time: worst {max(cpu):.2f}x CPU, {max(wall):.2f}x wall (goal <= 2x)")
    return 0 if flat <= 1.2 and max(cpu) <= 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
