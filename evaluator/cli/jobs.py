"""`python -m evaluator jobs schedule|run|list|cancel`: GPU workers as Hugging Face Jobs (evaluator.jobs)."""

from __future__ import annotations

import argparse
import re
from typing import Any

from evaluator.jobs import (
    DEFAULT_SCHEDULE,
    DEFAULT_TIMEOUT,
    IMAGE_ENV,
    JobPlan,
    cancel,
    hub_target,
    listing,
    plan,
    run_once,
    schedule,
)


def _params(text: str) -> int:
    match = re.fullmatch(r"([0-9]{1,4}(?:\.[0-9]{1,3})?)\s*([bBmM]?)", text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a size like 7B, 500M or 1.5B")
    scale = 1e6 if match[2] in ("m", "M") else 1e9
    return int(float(match[1]) * scale)


def _common(p: argparse.ArgumentParser, *, launch: bool) -> None:
    p.add_argument("--store", help="the Hub store the workers serve: hub:ORG/PREFIX (default: $CRISIS_STORE)")
    if not launch:
        return
    p.add_argument("--image", help=f"the worker image built from the Dockerfile (default: ${IMAGE_ENV})")
    p.add_argument("--flavor", help="Hub Jobs hardware (default: the cheapest that holds --params)")
    p.add_argument(
        "--params", type=_params, help="largest model the worker must hold, e.g. 7B (default: $CRISIS_MAX_PARAMS)"
    )
    p.add_argument("--precision", default="auto", help="weights' precision for the size rule (default auto: 16-bit)")
    p.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="NAME",
        help="another environment variable to pass as a job secret (API model keys); repeatable",
    )
    p.add_argument("--timeout", default=DEFAULT_TIMEOUT, help=f"longest a job may run (default {DEFAULT_TIMEOUT})")


def _plan_from(args: argparse.Namespace) -> JobPlan:
    return plan(
        args.store,
        image=args.image,
        flavor=args.flavor,
        params=args.params,
        precision=args.precision,
        secrets=args.secret,
        timeout=args.timeout,
    )


def cmd_schedule(args: argparse.Namespace) -> int:
    job = _plan_from(args)
    made = schedule(job, args.schedule)
    print(f"scheduled {made.id}: {job.flavor} {args.schedule} running `{' '.join(job.command)}` in {job.target.org}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    job = _plan_from(args)
    made = run_once(job)
    print(f"started job {made.id} on {job.flavor}: {getattr(made, 'url', '')}".rstrip(": "))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    target = hub_target(args.store)
    lines = listing(target)
    print("\n".join(lines) if lines else f"no jobs or schedules for {target.store}")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    print(cancel(hub_target(args.store), args.id))
    return 0


def register(verbs: Any) -> None:
    jobs = verbs.add_parser(
        "jobs",
        help="GPU workers as Hugging Face Jobs (schedule, run, list, cancel)",
        description="Run `worker --until-idle` on Hugging Face's GPUs against a Hub store. Secrets (HF_TOKEN, the "
        "judge's key named by $CRISIS_JUDGE_API_KEY_ENV, any --secret) are sent as job secrets.",
    )
    sub = jobs.add_subparsers(dest="jobs_verb", required=True)
    sched = sub.add_parser("schedule", help="create a scheduled job that drains the queue")
    _common(sched, launch=True)
    sched.add_argument("--schedule", default=DEFAULT_SCHEDULE, help=f"cron or @alias (default {DEFAULT_SCHEDULE})")
    sched.set_defaults(func=cmd_schedule)
    run = sub.add_parser("run", help="run one worker job now (until the queue is empty)")
    _common(run, launch=True)
    run.set_defaults(func=cmd_run)
    lst = sub.add_parser("list", help="this store's schedules and jobs")
    _common(lst, launch=False)
    lst.set_defaults(func=cmd_list)
    can = sub.add_parser("cancel", help="delete a schedule or cancel a job, by id")
    _common(can, launch=False)
    can.add_argument("id", help="the id `jobs list` shows")
    can.set_defaults(func=cmd_cancel)
