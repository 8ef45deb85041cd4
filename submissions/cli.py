"""`python -m submissions VERB`: submit models, follow the queue, and maintain it.

Who you are: `--user NAME` (default $USER). Maintainer verbs (retry, enqueue, approve,
reject, reclaim) and acting on others' requests need `--maintainer`, with the admin token
in $CRISIS_ADMIN_TOKEN or in a file named by `--admin-token-file FILE` (whose content must
equal $CRISIS_ADMIN_TOKEN); never on the command line, where `ps` shows it. With no such
variable set nobody is a maintainer. Bad input: one line on stderr,
exit code 2. The Hub out of reach: one line, exit code 1 (try again later).

Where: `--store local:DIR | hub:ORG/PREFIX` (or `--data DIR`, or $CRISIS_STORE; default
./var). `init-store --store hub:ORG/PREFIX` creates the Hub store's three repos;
`migrate --from local:DIR --to hub:ORG/PREFIX` copies a data directory into them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from evaluator.storage import (
    STORE_HELP,
    DataDir,
    Store,
    StoreError,
    StoreUnavailable,
    add_store_arguments,
    parse_store,
    store_from_args,
)
from evaluator.storage.cards import cards_for
from evaluator.storage.hub import HubStore, create_repos, migrate
from evaluator.wording import counted
from submissions.config import ARGV_TOKEN_REFUSED, Settings, check_admin_token
from submissions.errors import HubUnavailable, NotAllowed, SubmissionError
from submissions.hub import HfHubClient
from submissions.intake import MAINTAINER_PRIORITY, enqueue, request_api_model, submit
from submissions.queue import Queue
from submissions.ratelimit import RateLimit
from submissions.records import RequestRecord, Status
from submissions.target import current_set
from submissions.validation import DEFAULT_REVISION, PRECISIONS, Validator

EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE = 0, 1, 2
# A terminal has no Hugging Face sign-in: the CLI asks for the name (the page's wording,
# "sign in with your Hugging Face account", would send a terminal user looking for one).
ASK_USER = "say who you are with --user NAME (your Hugging Face user name)"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's usage errors, as one line
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def _identity(args: argparse.Namespace) -> tuple[str | None, bool]:
    user = args.user or os.environ.get("USER") or None
    if getattr(args, "admin_token", None) is not None:
        raise NotAllowed(ARGV_TOKEN_REFUSED)
    if not args.maintainer:
        return user, False
    check_admin_token(None, args.admin_token_file, "--maintainer needs the admin token")
    return user, True


_READ_ONLY_VERBS = frozenset({"list", "show"})


def _store(args: argparse.Namespace) -> Store:
    store: Store | None = getattr(args, "opened_store", None)
    if store is None:
        store = store_from_args(args, writable=args.verb not in _READ_ONLY_VERBS)
        args.opened_store = store
    return store


def _queue(args: argparse.Namespace, settings: Settings) -> Queue:
    return Queue.local(_store(args), settings)


def _model_column(r: RequestRecord) -> str:
    return r.model if r.model_type != "api" else f"openai:{r.model}"


def _table(records: Sequence[RequestRecord], positions: dict[str, int]) -> str:
    header = ("ID", "STATUS", "POS", "MODEL", "REV", "SUBMITTER", "SUBMITTED", "REASON")
    rows = [header]
    for r in records:
        rows.append(
            (
                r.id,
                str(r.status),
                str(positions.get(r.id, "")),
                _model_column(r),
                (r.sha or "")[:7],
                r.submitter,
                f"{r.submitted_at:%Y-%m-%d %H:%M}",
                (r.reason or "")[:80],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return "\n".join(
        ("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])) + "  " + row[-1]).rstrip() for row in rows
    )


def cmd_submit(args: argparse.Namespace, settings: Settings) -> int:
    user, maintainer = _identity(args)
    if not user:
        raise NotAllowed(ASK_USER)
    queue = _queue(args, settings)
    validator = Validator(HfHubClient(), target=current_set(queue_data(args), args.set), settings=settings)
    record = submit(
        queue,
        validator,
        model=args.model,
        revision=args.revision,
        precision=args.precision,
        chat=args.chat,
        submitter=user,
        maintainer=maintainer,
    )
    print(f"{record.id}: {record.model}@{(record.sha or '')[:7]} queued at position {queue.position(record.id)}")
    return EXIT_OK


def queue_data(args: argparse.Namespace) -> DataDir:
    return _store(args).data


def cmd_request_api(args: argparse.Namespace, settings: Settings) -> int:
    user, maintainer = _identity(args)
    if not user:
        raise NotAllowed(ASK_USER)
    queue = _queue(args, settings)
    record = request_api_model(
        queue,
        model=args.model,
        base_url=args.base_url,
        submitter=user,
        target=current_set(queue_data(args), args.set),
        rate_limit=RateLimit(settings.rate_limit, settings.rate_window),
        maintainer=maintainer,
    )
    print(f"{record.id}: openai:{record.model} requested; a maintainer will approve or reject it")
    return EXIT_OK


def cmd_enqueue(args: argparse.Namespace, settings: Settings) -> int:
    user, maintainer = _identity(args)
    queue = _queue(args, settings)
    record = enqueue(
        queue,
        spec=args.spec,
        base_url=args.base_url,
        submitter=user,
        target=current_set(queue_data(args), args.set),
        maintainer=maintainer,
        priority=args.priority,
    )
    print(f"{record.id}: {record.spec} queued at position {queue.position(record.id)}")
    return EXIT_OK


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    queue = _queue(args, settings)
    records = queue.records()
    positions = queue.positions(records)
    if args.status:
        wanted = {s.upper() for s in args.status}
        records = [r for r in records if r.status in wanted]
    if args.json:
        for r in records:
            print(json.dumps({**r.to_json(), "position": positions.get(r.id)}, ensure_ascii=False))
    elif records:
        print(_table(records, positions))
    else:
        print("no requests")
    bad = queue.unreadable()
    if bad:
        print(f"{len(bad)} request record(s) could not be read:", file=sys.stderr)
        for line in bad:
            print(f"  {line}", file=sys.stderr)
    return EXIT_OK


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    queue = _queue(args, settings)
    record = queue.get(args.id)
    print(json.dumps({**record.to_json(), "position": queue.position(record.id)}, indent=2, ensure_ascii=False))
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    user, maintainer = _identity(args)
    if not user:
        raise NotAllowed(ASK_USER)
    record = _queue(args, settings).cancel(args.id, user=user, maintainer=maintainer, reason=args.reason)
    print(f"{record.id}: {record.status}")
    return EXIT_OK


def cmd_retry(args: argparse.Namespace, settings: Settings) -> int:
    _, maintainer = _identity(args)
    queue = _queue(args, settings)
    record = queue.retry(args.id, maintainer=maintainer)
    print(f"{record.id}: {record.status} at position {queue.position(record.id)}")
    return EXIT_OK


def cmd_approve(args: argparse.Namespace, settings: Settings) -> int:
    _, maintainer = _identity(args)
    queue = _queue(args, settings)
    record = queue.approve(args.id, maintainer=maintainer, priority=args.priority)
    print(f"{record.id}: {record.status} at position {queue.position(record.id)}")
    return EXIT_OK


def cmd_reject(args: argparse.Namespace, settings: Settings) -> int:
    _, maintainer = _identity(args)
    record = _queue(args, settings).reject(args.id, maintainer=maintainer, reason=args.reason)
    print(f"{record.id}: {record.status}")
    return EXIT_OK


def cmd_reclaim(args: argparse.Namespace, settings: Settings) -> int:
    _, maintainer = _identity(args)
    if not maintainer:
        raise NotAllowed("only maintainers can reclaim leases (workers do it on their own)")
    for item in _queue(args, settings).reclaim_expired():
        print(f"{item.request_id}: {item.status}")
    return EXIT_OK


def cmd_init_store(args: argparse.Namespace, settings: Settings) -> int:
    spec = parse_store(args.store or "")
    if spec.kind != "hub":
        raise StoreError("init-store needs --store hub:ORG/PREFIX (a local store needs no setting up)")
    store = HubStore.from_env(spec)
    for line in create_repos(store, cards_for({r.role: r.repo_id for r in store.repos.values()})):
        print(line)
    return EXIT_OK


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    source, target = parse_store(args.source), parse_store(args.target)
    if source.kind != "local" or target.kind != "hub" or source.path is None:
        raise StoreError("migrate copies --from local:DIR --to hub:ORG/PREFIX")
    store = HubStore.open(target, writable=True)
    copied = migrate(source.path, store)
    print(
        f"migrated {counted(copied, 'file')} from {source} to {target}"
        if copied
        else f"{target} already has everything"
    )
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    add_store_arguments(common)
    common.add_argument("--user", help="your Hugging Face user name (default: $USER)")
    common.add_argument(
        "--maintainer", action="store_true", help="act as a maintainer ($CRISIS_ADMIN_TOKEN or --admin-token-file)"
    )
    common.add_argument("--admin-token-file", help="a file holding the admin token (never the token itself in argv)")
    common.add_argument("--admin-token", help=argparse.SUPPRESS)  # refused with a message: visible in `ps`
    common.add_argument("--set", help="current item set new requests target (default: $CRISIS_SET, else public-sample)")

    parser = _Parser(
        prog="python -m submissions",
        description="Submit models to the crisis-safety leaderboard and follow the evaluation queue.",
    )
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser, metavar="VERB")

    def verb(name: str, help_text: str, func: Any) -> argparse.ArgumentParser:
        p = verbs.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = verb("submit", "validate an open-weight Hugging Face model and queue it", cmd_submit)
    p.add_argument("--model", required=True, metavar="ORG/NAME", help="the model's Hub id")
    p.add_argument(
        "--revision", default=DEFAULT_REVISION, help="branch, tag or commit (default main); pinned to its SHA"
    )
    p.add_argument("--precision", default="auto", choices=PRECISIONS, help="weights precision (default auto)")
    p.add_argument(
        "--chat",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="an instruction/chat model (default yes); it must have a chat template either way",
    )

    p = verb("list", "list requests: the queue in order, then the rest, newest first", cmd_list)
    p.add_argument("--status", action="append", choices=[s.value for s in Status], help="only this status (repeatable)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")

    p = verb("show", "show one request", cmd_show)
    p.add_argument("id")

    p = verb("cancel", "cancel your queued or running request (maintainers: anyone's)", cmd_cancel)
    p.add_argument("id")
    p.add_argument("--reason", help="shown on the request")

    p = verb("retry", "maintainers: put a failed or cancelled request back in the queue", cmd_retry)
    p.add_argument("id")

    p = verb("enqueue", "maintainers: queue a baseline or an API model", cmd_enqueue)
    p.add_argument("--spec", required=True, help="baseline:refusal | baseline:template | openai:MODEL")
    p.add_argument("--base-url", help="the provider's OpenAI-compatible endpoint, for openai: specs")
    p.add_argument("--priority", type=int, default=MAINTAINER_PRIORITY, help="higher is claimed first")

    p = verb("request-api", "ask for an API model to be evaluated (a maintainer approves it)", cmd_request_api)
    p.add_argument("--model", required=True, help="the provider's model name")
    p.add_argument("--base-url", required=True, help="the provider's OpenAI-compatible endpoint (no keys)")

    p = verb("approve", "maintainers: approve a requested API model", cmd_approve)
    p.add_argument("id")
    p.add_argument("--priority", type=int, help="queue priority (default: as requested)")

    p = verb("reject", "maintainers: reject a requested API model", cmd_reject)
    p.add_argument("id")
    p.add_argument("--reason", required=True, help="why, for the requester")

    verb("reclaim", "maintainers: return requests whose worker died to the queue", cmd_reclaim)

    verb("init-store", "create the Hub store's three dataset repos (--store hub:ORG/PREFIX)", cmd_init_store)

    p = verbs.add_parser(
        "migrate",
        help="copy a local data directory into a Hub store",
        description="Copy a local data directory into a Hub store (idempotent: rerun it to resume).",
    )
    p.add_argument("--from", dest="source", required=True, metavar="local:DIR", help="the data directory")
    p.add_argument("--to", dest="target", required=True, metavar="hub:ORG/PREFIX", help=STORE_HELP)
    p.set_defaults(func=cmd_migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        return int(args.func(args, settings))
    except (HubUnavailable, StoreUnavailable) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_UNAVAILABLE
    except StoreError as exc:
        sys.stderr.write(f"error: {str(exc).splitlines()[0]}\n")
        return EXIT_USAGE
    except SubmissionError as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        sys.stderr.write(f"error: {message}\n")
        return EXIT_USAGE
