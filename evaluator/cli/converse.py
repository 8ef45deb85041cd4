"""`python -m evaluator converse` and `python -m evaluator personas ...` (PROTOCOL section 9;
evaluator.conversation runs them)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, Final

from evaluator.cli.common import (
    EXIT_INCOMPLETE,
    EXIT_OK,
    UsageError,
    add_data,
    backend_options_from_args,
    generation_from_args,
)
from evaluator.cli.sets import add_no_requeue, print_persona_cut, register_persona_rotation, requeue_persona_cut
from evaluator.conversation.persona import persona_set_names, persona_versions, resolve_personas
from evaluator.conversation.persona_sets import freeze_personas
from evaluator.conversation.run import ConversationConfig, run_conversations
from evaluator.storage import DataDir, RunSink, add_store_arguments, store_from_args
from evaluator.wording import pct, pct_interval, text_table

MAX_TURNS_LIMIT: Final = 40


def _rate(row: dict[str, Any], key: str, interval: bool = False) -> str:
    if interval:
        return pct_interval(row.get(key), row.get(f"{key}_lo"), row.get(f"{key}_hi"))
    return pct(row.get(key), 1)


def conversation_table(rows: Sequence[dict[str, Any]]) -> str:
    header = ("category", "n", "unscored", "harm [95% CI]", "worst turn", "C1", "C2", "C3", "C4", "C5", "stayed")
    lines: list[tuple[str, ...]] = [header]
    for row in rows:
        mean = row.get("mean_level")
        lines.append(
            (
                str(row["category"]),
                str(row.get("n") or 0),
                str(row.get("unscored") or 0),
                _rate(row, "harm_rate", interval=True),
                "—" if mean is None else f"{mean:.2f}",
                *(_rate(row, f"c{q}_best_rate") for q in range(1, 6)),
                _rate(row, "post_refusal_stay_rate"),
            )
        )
    out = text_table(lines)
    out.append("C1-C5: best-practice rate of each conversation question; stayed: post-refusal stay rate")
    return "\n".join(out)


def _max_turns(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of turns: {text[:20]!r}") from None
    if not 1 <= value <= MAX_TURNS_LIMIT:
        raise argparse.ArgumentTypeError(f"--max-turns must be from 1 to {MAX_TURNS_LIMIT}")
    return value


def cmd_converse(args: argparse.Namespace) -> int:
    if args.concurrency < 1 or args.batch_size < 1 or args.timeout <= 0:
        raise UsageError("--concurrency and --batch-size must be at least 1 and --timeout above 0")
    store = store_from_args(args)
    data = store.data
    personas = resolve_personas(args.personas, data)

    config = ConversationConfig(
        model=args.model,
        personas=personas,
        user_sim=args.user_sim,
        judges=tuple(args.judge or ["heuristic"]),
        max_turns=args.max_turns,
        params=generation_from_args(args),
        model_options=backend_options_from_args(
            args, args.base_url, args.api_key_env, tensor_parallel_size=args.tensor_parallel_size
        ),
        sim_options=backend_options_from_args(
            args, args.user_sim_base_url or args.base_url, args.user_sim_api_key_env or args.api_key_env
        ),
        judge_options=backend_options_from_args(
            args, args.judge_base_url or args.base_url, args.judge_api_key_env or args.api_key_env
        ),
    )

    sink = RunSink(store)
    outcome = run_conversations(config, data, progress=not args.quiet, sink=sink)
    if not outcome.complete:
        sink.save(outcome.status)
        sys.stderr.write(f"run {outcome.run_id} {outcome.status}: {outcome.reason}\n")
        return EXIT_INCOMPLETE
    sink.publish()
    print(
        f"run {outcome.run_id}: {args.model} with {config.user_sim} on {personas.name}@{personas.version}, "
        f"judge {'+'.join(config.judges)}"
    )
    print(conversation_table(outcome.rows))
    print(f"\nresult rows: {outcome.result_file}")
    return EXIT_OK


def cmd_personas_list(args: argparse.Namespace) -> int:
    data = DataDir.at(args.data)
    names = persona_set_names(data)
    if not names:
        print(f"no persona sets under {data.sets}")
    for name in names:
        versions = persona_versions(data, name)
        print(f"{name}: {len(versions)} version{'' if len(versions) == 1 else 's'}, latest {versions[-1]}")
    return EXIT_OK


def cmd_personas_freeze(args: argparse.Namespace) -> int:
    data = DataDir.at(args.data)
    result = freeze_personas(data, args.name, args.source, visibility="public" if args.public else "private")
    print_persona_cut(result)
    requeue_persona_cut(data, result, args.no_requeue)
    return EXIT_OK


def cmd_personas_show(args: argparse.Namespace) -> int:
    data = DataDir.at(args.data)
    persona_set = resolve_personas(args.name, data)
    print(f"{persona_set.name} {persona_set.version} ({persona_set.visibility}): {len(persona_set.personas)} personas")
    for field, counts in persona_set.counts().items():
        print(f"{field}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return EXIT_OK


def register(verbs: Any) -> None:
    p = verbs.add_parser(
        "converse",
        help="evaluate one model in conversations with simulated people",
        description="Talk with every persona of a set over many turns (the model under test and a simulated "
        "person, all open conversations batched per turn), judge every model turn and each conversation, and "
        "write conversation result rows (track conversation). Resumable: the same command again continues "
        "from the last finished turn of each conversation.",
    )
    p.add_argument("--model", required=True, help="the model under test: any backend spec, as for `run`")
    p.add_argument("--personas", required=True, help="public-personas, a JSONL file, or NAME[@VERSION]")
    p.add_argument(
        "--user-sim", default="script", help="script (offline, each persona's script) or a model spec (default script)"
    )
    p.add_argument("--judge", action="append", help="judge spec (repeat for a panel); default: heuristic")
    p.add_argument("--max-turns", type=_max_turns, help="at most this many user turns per conversation")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint for an openai: model")
    p.add_argument("--user-sim-base-url", help="endpoint for an openai: simulated person (default: --base-url)")
    p.add_argument("--judge-base-url", help="endpoint for openai: judges (default: --base-url)")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="env var holding the API key")
    p.add_argument("--user-sim-api-key-env", help="env var holding the simulator's API key")
    p.add_argument("--judge-api-key-env", help="env var holding the judge's API key")
    p.add_argument("--concurrency", type=int, default=16, help="concurrent API requests (default 16)")
    p.add_argument("--timeout", type=float, default=120.0, help="per-request timeout in seconds")
    p.add_argument("--batch-size", type=int, default=8, help="hf: generation batch size")
    p.add_argument("--device", help="hf: torch device")
    p.add_argument("--tensor-parallel-size", type=int, default=1, help="vllm: GPUs per model")
    p.add_argument("--max-new-tokens", type=int, default=1024)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--system-prompt", help="no system prompt by default (the raw model)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_store_arguments(p)
    p.set_defaults(func=cmd_converse)

    personas = verbs.add_parser(
        "personas",
        help="persona sets for conversations",
        description="Persona sets live beside item sets under <data>/sets (kind personas), frozen per version. "
        "Persona text is never printed.",
    )
    actions = personas.add_subparsers(dest="personas_verb", required=True, parser_class=type(personas))
    q = actions.add_parser("list", help="every persona set and its versions")
    add_data(q)
    q.set_defaults(func=cmd_personas_list)
    q = actions.add_parser("freeze", help="validate a JSONL file and cut it as a new version of NAME")
    q.add_argument("name")
    q.add_argument("--from", dest="source", required=True, metavar="FILE")
    q.add_argument("--public", action="store_true", help="a public set (transcripts may be published)")
    add_no_requeue(q, "of finished models' conversations")
    add_data(q)
    q.set_defaults(func=cmd_personas_freeze)
    q = actions.add_parser("show", help="counts per category, risk, disclosure and age group (no text)")
    q.add_argument("name", help="NAME[@VERSION], public-personas or a file")
    add_data(q)
    q.set_defaults(func=cmd_personas_show)
    register_persona_rotation(actions)
