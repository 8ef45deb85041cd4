"""The evaluator's verbs are registered explicitly (issue 19): every verb group module of
evaluator/cli/ is in GROUPS, nothing is discovered at run time, argparse code lives only in the
commands layer, and a group whose module fails to import fails `python -m evaluator` loudly."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import evaluator.cli
from evaluator.cli import GROUPS, build_parser

ROOT = Path(__file__).resolve().parents[3]
CLI = ROOT / "evaluator" / "cli"
SHARED = {"__init__", "common"}  # not verb groups


def test_every_group_module_is_registered_once_and_has_register() -> None:
    modules = {p.stem for p in CLI.glob("*.py")} - SHARED
    registered = [g.__name__.rsplit(".", 1)[1] for g in GROUPS]
    assert sorted(registered) == sorted(modules), "a module of evaluator/cli/ is missing from GROUPS (or extra)"
    assert len(set(registered)) == len(registered)
    assert all(callable(getattr(g, "register", None)) for g in GROUPS)


def test_registration_is_static_no_discovery_and_no_swallowed_import_errors() -> None:
    tree = ast.parse((CLI / "__init__.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            assert name not in ("__import__", "import_module", "getattr"), f"dynamic lookup: {name}"
        if isinstance(node, ast.ExceptHandler) and node.type is not None:
            caught = ast.unparse(node.type)
            assert "ImportError" not in caught and "ModuleNotFoundError" not in caught
    # GROUPS is a literal tuple of the modules imported at the top, in --help order.
    groups = next(n for n in tree.body if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "GROUPS")
    assert isinstance(groups.value, ast.Tuple)
    assert all(isinstance(e, ast.Name) for e in groups.value.elts)


def test_the_verbs_are_those_of_the_groups_in_group_order() -> None:
    verbs = next(a for a in build_parser()._actions if a.dest == "verb")
    names = [a.dest for a in verbs._choices_actions]  # type: ignore[attr-defined]
    assert names[:2] == ["run", "import"] and names[-2:] == ["rejudge", "rescore"]
    assert len(names) == len(set(names)) == 12


def test_argparse_lives_only_in_the_commands_layer() -> None:
    # storage's --store/--data options are shared by all three packages' commands.
    allowed = {"evaluator/storage/home.py"}
    offenders = []
    for path in sorted((ROOT / "evaluator").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("evaluator/cli/") or rel in allowed:
            continue
        text = path.read_text(encoding="utf-8")
        if "import argparse" in text or "def register_cli" in text:
            offenders.append(rel)
    assert not offenders, f"verb code outside evaluator/cli/: {offenders}"


def test_a_group_whose_module_fails_to_import_fails_the_command_loudly() -> None:
    # Make one domain module behind a verb group unimportable, as a missing dependency would.
    script = (
        "import sys\n"
        "class Broken:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'evaluator.jobs':\n"
        "            raise ImportError('simulated: evaluator.jobs cannot be imported')\n"
        "        return None\n"
        "sys.meta_path.insert(0, Broken())\n"
        "import runpy\n"
        "sys.argv = ['evaluator', '--help']\n"
        "runpy.run_module('evaluator', run_name='__main__')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "simulated: evaluator.jobs cannot be imported" in done.stderr
    assert "rejudge" not in done.stdout  # no help with some verbs quietly gone
    assert evaluator.cli.jobs.register  # in this process the group imports fine
