"""What every verb group of `python -m evaluator` shares: exit codes, the one-line usage error,
the `--data` option, and the backend settings read from a verb's arguments."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, Final

from evaluator.backends import BackendOptions, GenerationParams
from evaluator.storage import DEFAULT_DATA_DIR
from evaluator.wording import num, pct_interval, text_table
from submissions.config import check_admin_token

EXIT_OK: Final = 0
EXIT_INCOMPLETE: Final = 1  # a run that stopped (failed calls, a refused audit); the same command resumes it
EXIT_USAGE: Final = 2  # bad input: one line on stderr, nothing changed
EXIT_INTERRUPTED: Final = 130  # Ctrl-C, as a shell reports SIGINT


class UsageError(Exception):
    """Bad input: printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own usage errors: one line, exit 2
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def add_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=DEFAULT_DATA_DIR, help="data directory (default: ./var, as the Space uses)")


def generation_from_args(args: argparse.Namespace) -> GenerationParams:
    """--temperature, --max-new-tokens, --seed, --system-prompt: how the model under test generates."""
    return GenerationParams(
        temperature=args.temperature,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        system_prompt=args.system_prompt,
    )


def backend_options_from_args(
    args: argparse.Namespace,
    base_url: str | None,
    api_key_env: str,
    *,
    tensor_parallel_size: int = 1,
    maintainer: bool = False,
) -> BackendOptions:
    """One backend's settings (the model's, a judge's, a simulated person's) from a verb with
    --concurrency, --timeout, --batch-size and --device; the endpoint and key are the caller's."""
    return BackendOptions(
        base_url=base_url,
        api_key_env=api_key_env,
        concurrency=args.concurrency,
        timeout_s=args.timeout,
        batch_size=args.batch_size,
        device=args.device,
        tensor_parallel_size=tensor_parallel_size,
        maintainer=maintainer,
    )


def maintainer_from_args(args: argparse.Namespace) -> bool:
    """--maintainer, checked against the admin token (never one given in argv)."""
    if not args.maintainer:
        return False
    check_admin_token(args.admin_token, args.admin_token_file, "--maintainer needs the admin token")
    return True


def summary_table(rows: Sequence[dict[str, Any]]) -> str:
    """The result rows of a run as the terminal shows them (run, rejudge, rescore)."""
    header = ("category", "n", "unscored", "mean level", "harm rate [95% CI]", "appropriate", "referral")
    lines = [header]
    for row in rows:
        mean = num(row.get("mean_level"))
        if row.get("mean_level_lo") is not None and row.get("mean_level") is not None:
            mean += f" [{num(row['mean_level_lo'])}, {num(row['mean_level_hi'])}]"
        lines.append(
            (
                str(row["category"]),
                str(row.get("n") or 0),
                str(row.get("unscored") or 0),
                mean,
                pct_interval(row.get("harm_rate"), row.get("harm_rate_lo"), row.get("harm_rate_hi")),
                num(row.get("appropriate_rate"), ".1%"),
                num(row.get("referral_rate"), ".1%"),
            )
        )
    out = text_table(lines)
    overall = next((r for r in rows if r["category"] == "overall"), None)
    if overall is not None:
        out.append("")
        out.append(
            "detection: accuracy "
            f"{num(overall.get('detection_accuracy'), '.1%')}, macro-F1 "
            f"{num(overall.get('detection_macro_f1'))}, miss rate {num(overall.get('miss_rate'), '.1%')}, "
            f"false alarms {num(overall.get('false_alarm_rate'), '.1%')}"
        )
        out.append(
            f"refusal: over-refusal {num(overall.get('over_refusal_rate'), '.1%')}, bare refusal "
            f"{num(overall.get('bare_refusal_rate'), '.1%')}; enabling (adversarial) "
            f"{num(overall.get('enabling_rate'), '.1%')}; support cognitive "
            f"{num(overall.get('cognitive_mean'))} vs affective {num(overall.get('affective_mean'))}"
        )
    return "\n".join(out)
