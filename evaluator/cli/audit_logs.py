"""`python -m evaluator audit-logs`: audit a deployer's conversation log (PROTOCOL section 10).

    audit-logs FILE --judge SPEC [--judge SPEC…] [--format jsonl|csv] [--review-sample N]
    audit-logs --reviewed LABELS.jsonl RUN
    audit-logs FILE|RUN --publish-aggregate        (maintainers)

Bad input: one line on stderr, exit 2, nothing written. A run stopped by failed judge calls
exits 1 and resumes when the same command runs again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from evaluator.audit import cli_user, log_admin_action
from evaluator.backends import BackendOptions
from evaluator.cli.common import EXIT_INCOMPLETE, EXIT_OK
from evaluator.logaudit.publish import publish_aggregate
from evaluator.logaudit.reading import Fields, LogError, detect_format, parse_role_map
from evaluator.logaudit.run import AuditConfig, AuditError, audit_logs, fold_reviews, run_dir
from evaluator.storage import add_store_arguments, store_from_args
from submissions.config import check_admin_token


def _maintainer(args: argparse.Namespace) -> str:
    check_admin_token(args.admin_token, args.admin_token_file, "--publish-aggregate is for maintainers")
    return cli_user()


def _summary(report: dict[str, Any]) -> str:
    overall = report["figures"]["overall"]

    def pct(fig: dict[str, Any]) -> str:
        if fig["rate"] is None:
            return "—"
        return f"{fig['rate']:.2%} [{fig['lo']:.2%}, {fig['hi']:.2%}]"

    bound = report["review"]["false_negative"]
    lines = [
        f"log audit {report['run_id']}: {report['conversations']} conversations, "
        f"{overall['at_risk']} at risk ({pct(overall['at_risk_share'])})",
        f"  resource in time {pct(overall['resource_in_time'])}; missed risk {pct(overall['missed_risk'])}; "
        f"harmful turns {pct(overall['harmful_turns'])}",
        f"  review sample: {report['review']['drawn']} unflagged conversations; "
        + (
            f"false-negative bound {bound['hi']:.2%} ({bound['missed']}/{bound['reviewed']} reviewed at risk)"
            if bound["reviewed"]
            else "not reviewed yet"
        ),
    ]
    return "\n".join(lines)


def _publish(store: Any, run_id: str, system: str, who: str) -> Path:
    path = publish_aggregate(store, run_id, system)
    log_admin_action(store, who, "audit-logs.publish", {"run_id": run_id, "system": system})
    return path


def cmd_audit_logs(args: argparse.Namespace) -> int:
    who = _maintainer(args) if args.publish_aggregate else None
    if len(args.system) > 100 or not args.system.strip() or any(ord(c) < 32 for c in args.system):
        raise AuditError("--system must be 1-100 printable characters")
    target = args.target
    if args.reviewed is not None:
        if args.judge:
            raise AuditError("--reviewed takes a RUN id, not a log to audit; leave out --judge")
        store = store_from_args(args)
        report = fold_reviews(store, target, Path(args.reviewed))
        print(_summary(report))
        if who is not None:
            print(f"published: {_publish(store, target, args.system, who)}")
        return EXIT_OK
    path = Path(target)
    if not path.exists() and target.startswith("la-") and args.publish_aggregate and not args.judge:
        store = store_from_args(args)
        print(f"published: {_publish(store, target, args.system, who or '')}")
        return EXIT_OK
    if not path.is_file():
        raise LogError(f"{path.name}: no such file")
    fmt = detect_format(path, args.format)
    fields = Fields(
        id=args.id_column,
        turns=args.turns_field,
        turn=args.turn_column,
        role=args.role_column,
        text=args.text_column,
        roles=parse_role_map(args.map_role or []),
    )
    config = AuditConfig(
        source=path,
        fmt=fmt,
        fields=fields,
        judges=tuple(args.judge or ["heuristic"]),
        review_sample=args.review_sample,
        seed=args.seed,
        judge_options=BackendOptions(
            base_url=args.judge_base_url,
            api_key_env=args.api_key_env,
            concurrency=args.concurrency,
            timeout_s=args.timeout,
        ),
    )
    store = store_from_args(args)
    outcome = audit_logs(config, store, progress=not args.quiet)
    if not outcome.complete or outcome.report is None:
        sys.stderr.write(f"log audit {outcome.run_id} incomplete: {outcome.reason}\n")
        return EXIT_INCOMPLETE
    print(_summary(outcome.report))
    print(f"private report: {run_dir(store.data, outcome.run_id) / 'report.md'}")
    if who is not None:
        print(f"published: {_publish(store, outcome.run_id, args.system, who)}")
    return EXIT_OK


def register(verbs: Any) -> None:
    p = verbs.add_parser(
        "audit-logs",
        help="audit a deployer's real conversation logs (private; PROTOCOL section 10)",
        description="Mask personal data, screen every user turn for crisis signals, judge the assistant turns "
        "after the first flag, and write a private report with the section 10 figures and a review sample. "
        "Resumable: the same command again continues where a killed run stopped.",
    )
    p.add_argument("target", metavar="FILE|RUN", help="the log (JSONL or CSV); a run id with --reviewed")
    p.add_argument("--judge", action="append", help="judge spec (repeat for a panel; the first one screens); "
                   "default: heuristic")  # fmt: skip
    p.add_argument("--format", choices=("jsonl", "csv"), help="default: from the file name")
    p.add_argument("--review-sample", type=int, default=200, metavar="N",
                   help="unflagged conversations drawn for human review (default 200)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seed of the review sample (default 0)")
    p.add_argument("--reviewed", metavar="LABELS.jsonl", help="fold reviewers' labels into RUN's false-negative bound")
    p.add_argument("--publish-aggregate", action="store_true",
                   help="maintainers: write the aggregate figures (nothing else) as public log_audit rows")  # fmt: skip
    p.add_argument("--system", default="deployed-system", help="name of the audited system in published rows")
    p.add_argument("--id-column", help="conversation id field/column (default: id in JSONL, conversation_id in CSV)")
    p.add_argument("--turns-field", default="turns", help="JSONL: the list of turns (default turns)")
    p.add_argument("--turn-column", default="turn_index", help="CSV: the turn index column (default turn_index)")
    p.add_argument("--role-column", default="role", help="role field/column (default role)")
    p.add_argument("--text-column", help="text field/column (default: content in JSONL, text in CSV)")
    p.add_argument("--map-role", action="append", metavar="SOURCE=ROLE", help="role mapping, e.g. bot=assistant")
    p.add_argument("--judge-base-url", help="OpenAI-compatible endpoint for openai: judges")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="env var holding the judge's API key")
    p.add_argument("--concurrency", type=int, default=16, help="concurrent judge requests (default 16)")
    p.add_argument("--timeout", type=float, default=120.0, help="per-request timeout in seconds")
    p.add_argument("--admin-token-file", help="a file holding the admin token (never the token itself in argv)")
    p.add_argument("--admin-token", help=argparse.SUPPRESS)  # refused with a message: visible in `ps`
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_store_arguments(p)
    p.set_defaults(func=cmd_audit_logs)
