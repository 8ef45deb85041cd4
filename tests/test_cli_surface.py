"""The three CLIs keep their surface (issue 19): every verb, sub-verb and argument of
`python -m evaluator|submissions|leaderboard` — flags, dest, default, choices, nargs, required,
metavar, type, help — and the order verbs appear in `--help`, as stored in data/cli_surface.json.

Verbs may only be added, and only those named in ADDED_VERBS. To refresh the stored copy after an
intended addition: `python -m tests.test_cli_surface > tests/data/cli_surface.json`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

STORED = Path(__file__).parent / "data" / "cli_surface.json"
PACKAGES = ("evaluator", "submissions", "leaderboard")
# (package, verb) pairs added since the stored copy was taken. rejudge and rescore (WP-R) were
# already in the tree when it was, so none is allowed today.
ADDED_VERBS: frozenset[tuple[str, str]] = frozenset()


def _describe(parser: argparse.ArgumentParser) -> dict[str, Any]:
    out: dict[str, Any] = {"prog": parser.prog, "description": parser.description, "arguments": [], "verbs": {}}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            out["required_verb"] = action.required
            for name, sub in action.choices.items():
                out["verbs"][name] = _describe(sub)
            out["verb_help"] = {a.dest: a.help for a in action._choices_actions}
            out["verb_order"] = [a.dest for a in action._choices_actions]  # the order --help lists them
            continue
        if isinstance(action, argparse._HelpAction):
            continue
        out["arguments"].append(
            {
                "flags": list(action.option_strings),
                "dest": action.dest,
                "kind": type(action).__name__,
                "default": repr(action.default),
                "choices": None if action.choices is None else [str(c) for c in action.choices],
                "nargs": action.nargs,
                "required": action.required,
                "metavar": action.metavar,
                "type": getattr(action.type, "__name__", repr(action.type)),
                "help": action.help,
                "const": repr(action.const),
            }
        )
    return out


def surface() -> dict[str, Any]:
    return {p: _describe(importlib.import_module(f"{p}.cli").build_parser()) for p in PACKAGES}


def _without(current: dict[str, Any], package: str, verb: str) -> None:
    top = current[package]
    del top["verbs"][verb]
    del top["verb_help"][verb]
    top["verb_order"].remove(verb)


def test_every_verb_flag_default_and_help_line_is_unchanged() -> None:
    stored = json.loads(STORED.read_text(encoding="utf-8"))
    current = json.loads(json.dumps(surface()))  # tuples as lists, as stored
    added = {(p, v) for p in PACKAGES for v in current[p]["verbs"] if v not in stored[p]["verbs"]}
    assert added == ADDED_VERBS, f"verbs added or gone unannounced: {sorted(added ^ ADDED_VERBS)}"
    for package, verb in added:
        _without(current, package, verb)
    for package in PACKAGES:
        for verb in stored[package]["verbs"]:
            assert current[package]["verbs"].get(verb) == stored[package]["verbs"][verb], f"{package} {verb} changed"
        assert current[package] == stored[package], f"python -m {package}: the top-level surface changed"


def test_the_stored_surface_names_every_verb_in_help_order() -> None:
    stored = json.loads(STORED.read_text(encoding="utf-8"))
    assert stored["evaluator"]["verb_order"][:2] == ["run", "import"]
    for package in PACKAGES:
        assert sorted(stored[package]["verb_order"]) == sorted(stored[package]["verbs"])


if __name__ == "__main__":
    json.dump(surface(), sys.stdout, indent=1, sort_keys=True, ensure_ascii=False)
    sys.stdout.write("\n")
