"""The capacity model of docs/capacity.md: GPU-hours per evaluated model, GPUs for a wait target, cost.

    .venv/bin/python benchmarks/capacity.py [--items 104] [--models-per-day 20] [--wait-hours 2]
                                            [--reply-tokens 350] [--judge-calls 1]

Nothing is measured here: the inputs are published throughput figures (cited in
docs/capacity.md) and prices, all in the tables below, so a maintainer can change them and
re-run. Placement comes from evaluator.placement, the rule the Ray executor uses.

Per model: every item needs one reply (up to 1024 new tokens; `--reply-tokens` on average)
and one detection answer (32 tokens), and each model judge reads the reply and writes a short
verdict. Time on the GPUs = engine start-up + tokens / throughput; the judge runs as its own
replica, counted separately. The queue is M/M/c: requests arrive at random, and c slots
(each a placement's worth of GPUs) serve them; Erlang C gives the mean wait.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from evaluator.placement import GIB, Cluster, gpus_for  # noqa: E402


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_gib: int
    price_per_hour: float  # USD, on-demand list price per GPU (edit for your provider)
    speed: float  # batch output throughput relative to an H100 (published ratios, docs/capacity.md)


@dataclass(frozen=True)
class ModelSize:
    name: str
    params: float
    h100_tokens_per_s: float  # batched output tokens/s of one replica on its H100 placement
    startup_s: float  # download from a warm cache, load, CUDA graphs


GPUS = (
    Gpu("H100 80GB", 80, 3.00, 1.0),
    Gpu("A100 80GB", 80, 1.80, 0.5),  # "H100 ~2x better throughput than A100" (Lambda)
    Gpu("L40S 48GB", 48, 1.00, 0.35),
)
MODELS = (
    ModelSize("8B", 8e9, 12_500, 120),  # ~12.5K tok/s Llama 3.1 8B bf16 on 1xH100
    ModelSize("32B", 32e9, 2_000, 240),
    ModelSize("70B", 70e9, 1_800, 420),  # 4xH100 tensor parallel
    ModelSize("405B", 405e9, 900, 1200),  # two 8xH100 nodes, pipeline parallel
)
DETECTION_TOKENS = 32
JUDGE_TOKENS = 200  # a verdict: checklist answers as JSON


def service_hours(model: ModelSize, gpu: Gpu, items: int, reply_tokens: int) -> tuple[int, float]:
    """(GPUs per replica, hours one replica spends on one evaluated model)."""
    placement = gpus_for(
        int(model.params), "bfloat16", Cluster(gpus_per_node=8, nodes=4, gpu_memory=gpu.memory_gib * GIB)
    )
    # The H100 figure is for the H100 placement; on a smaller or slower GPU the same model
    # needs more of them, which buys back part of the speed (bandwidth adds up across GPUs).
    h100 = gpus_for(int(model.params), "bfloat16", Cluster(gpus_per_node=8, nodes=4, gpu_memory=80 * GIB))
    rate = model.h100_tokens_per_s * gpu.speed * placement.gpus / h100.gpus
    tokens = items * (reply_tokens + DETECTION_TOKENS)
    return placement.gpus, (model.startup_s + tokens / rate) / 3600


def erlang_c_wait(arrivals_per_h: float, service_h: float, servers: int) -> float:
    """Mean wait in queue (hours) of an M/M/c queue; infinite when it cannot keep up."""
    load = arrivals_per_h * service_h
    if load >= servers:
        return math.inf
    term, total = 1.0, 1.0
    for k in range(1, servers):
        term *= load / k
        total += term
    top = term * load / servers / (1 - load / servers)
    waiting = top / (total + top)
    return waiting * service_h / (servers - load)


def slots_for(arrivals_per_h: float, service_h: float, wait_h: float) -> int:
    servers = max(1, math.ceil(arrivals_per_h * service_h))
    while erlang_c_wait(arrivals_per_h, service_h, servers) > wait_h:
        servers += 1
    return servers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=104, help="items per evaluation (default: public-sample, 104)")
    parser.add_argument("--models-per-day", type=float, default=20.0, help="evaluation requests per day")
    parser.add_argument("--wait-hours", type=float, default=2.0, help="target mean wait in the queue")
    parser.add_argument("--reply-tokens", type=int, default=350, help="mean reply length in tokens")
    args = parser.parse_args(argv)
    if args.items < 1 or args.models_per_day <= 0 or args.wait_hours <= 0 or args.reply_tokens < 1:
        parser.error("all inputs must be positive")

    arrivals = args.models_per_day / 24
    print(
        f"{args.items} items, {args.reply_tokens} reply tokens on average, {args.models_per_day:g} models/day "
        f"(all of one size), mean wait <= {args.wait_hours:g} h\n"
    )
    header = ("model", "GPU", "GPUs/replica", "h/model", "GPU-h/model", "$/model", "replicas", "GPUs", "$/day busy")
    lines = [header]
    for model in MODELS:
        for gpu in GPUS:
            per, hours = service_hours(model, gpu, args.items, args.reply_tokens)
            slots = slots_for(arrivals, hours, args.wait_hours)
            busy = arrivals * 24 * hours * per * gpu.price_per_hour
            lines.append(
                (
                    model.name,
                    gpu.name,
                    str(per),
                    f"{hours:.2f}",
                    f"{hours * per:.2f}",
                    f"{hours * per * gpu.price_per_hour:.2f}",
                    str(slots),
                    str(slots * per),
                    f"{busy:.0f}",
                )
            )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for n, line in enumerate(lines):
        print("  ".join(cell.rjust(widths[i]) if i > 1 else cell.ljust(widths[i]) for i, cell in enumerate(line)))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print("\n$/day busy: GPU time actually used; a cluster held all day costs GPUs x 24 x price.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
