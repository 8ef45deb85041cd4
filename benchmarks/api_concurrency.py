"""Throughput of the `openai:` backend against the local test server.

With 100 ms of server latency and 32 requests in flight, 1,000 requests cannot finish in
under 1000 / 32 * 0.1 s = 3.125 s; the ratio wall/ideal is the client's and server's own
overhead (threads, HTTP, JSON).

    PYTHONPATH=. python benchmarks/api_concurrency.py [--requests N] [--concurrency C] [--latency S]
"""

from __future__ import annotations

import argparse
import time

from evaluator.backends.base import GenerationParams
from evaluator.backends.openai import OpenAIBackend
from tests.support.openai_server import OpenAIServer


def run(requests: int, concurrency: int, latency_s: float) -> dict[str, float]:
    conversations = [[{"role": "user", "content": f"benchmark item {i}"}] for i in range(requests)]
    with OpenAIServer(latency_s=latency_s) as server:
        backend = OpenAIBackend(
            "test-model", base_url=server.url, api_key_env="CSL_BENCHMARK_NO_KEY", concurrency=concurrency
        )
        try:
            started = time.perf_counter()
            replies = backend.generate(conversations, GenerationParams())
            wall = time.perf_counter() - started
        finally:
            backend.close()
        failed = sum(not r.ok for r in replies)
        max_in_flight = server.max_in_flight
    ideal = requests / concurrency * latency_s
    return {
        "wall_s": wall,
        "ideal_s": ideal,
        "ratio": wall / ideal,
        "requests_per_s": requests / wall,
        "max_in_flight": max_in_flight,
        "failed": failed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.1, help="server latency in seconds")
    args = parser.parse_args()
    figures = run(args.requests, args.concurrency, args.latency)
    print(f"requests        {args.requests} at concurrency {args.concurrency}, server latency {args.latency:g} s")
    print(f"wall time       {figures['wall_s']:.3f} s")
    print(f"ideal           {figures['ideal_s']:.3f} s")
    print(f"wall / ideal    {figures['ratio']:.3f}")
    print(f"requests/s      {figures['requests_per_s']:.1f}")
    print(f"max in flight   {figures['max_in_flight']:.0f}")
    print(f"failed          {figures['failed']:.0f}")


if __name__ == "__main__":
    main()
