"""The house stays easy to change (issue 19): layer contracts, module size, function-level imports.

`make lint` runs the import contracts too; running them here keeps them in every pytest run. The
size limit is a ratchet: an entry leaves ALLOWED_OVERSIZE when its module is split. Function-level
imports of the project's own modules are named one by one in ALLOWED_LOCAL_IMPORTS, each with its
reason: a new one fails, and so does an entry whose import has gone.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("evaluator", "submissions", "leaderboard", "space")
MAX_LINES = 700
# Modules still over MAX_LINES, with the most lines each may have until it is split.
ALLOWED_OVERSIZE: dict[str, int] = {}
# Function-level imports of the project's own modules: each one usually hides a layering problem, so
# each one allowed is named here, (file, imported module) -> why it stays inside a function, and carries
# a `# why` comment on its line. Lazy imports of vendor packages are not counted. DYNAMIC stands for
# importlib.import_module / __import__ with a computed name.
DYNAMIC = "<import_module>"
ALLOWED_LOCAL_IMPORTS: dict[tuple[str, str], str] = {
    ("evaluator/__init__.py", DYNAMIC): "the lazy pipeline and results names: `import evaluator` (the Space, "
    "the submissions CLI) loads no pyarrow or numpy",
    ("evaluator/backends/__init__.py", "evaluator.backends.openai"): "http.client, ssl (~40 ms at start-up) only "
    "when an openai: backend is built; the other kinds are hoisted",
    ("evaluator/judge/factory.py", "evaluator.backends.openai"): "http.client, ssl only for an openai: judge",
}


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _own(module: str) -> bool:
    return module.split(".")[0] in PACKAGES


def _local_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, imported module) of each import of a project module inside a function body."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name | ast.Attribute):
            name = node.test.id if isinstance(node.test, ast.Name) else node.test.attr
            if name == "TYPE_CHECKING":
                for child in node.orelse:
                    visit(child, in_function)
                return
        if in_function and isinstance(node, ast.ImportFrom) and (node.level or _own(node.module or "")):
            found.append((node.lineno, "." * node.level + (node.module or "")))
        if in_function and isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names if _own(alias.name))
        if in_function and isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            target = node.args[0]
            if called in ("import_module", "__import__"):
                if not (isinstance(target, ast.Constant) and isinstance(target.value, str)):
                    found.append((node.lineno, DYNAMIC))
                elif _own(target.value):
                    found.append((node.lineno, target.value))
        inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, False)
    return found


def test_no_module_grows_past_its_limit() -> None:
    over = {}
    for path in _modules():
        rel = path.relative_to(ROOT).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > ALLOWED_OVERSIZE.get(rel, MAX_LINES):
            over[rel] = lines
    assert not over, f"modules over their line limit ({MAX_LINES}, or their ratchet entry): {over}"


def test_the_oversize_allowance_only_names_modules_still_over_the_limit() -> None:
    stale = {
        rel: limit
        for rel, limit in ALLOWED_OVERSIZE.items()
        if not (ROOT / rel).exists() or len((ROOT / rel).read_text(encoding="utf-8").splitlines()) <= MAX_LINES
    }
    assert not stale, f"remove these entries from ALLOWED_OVERSIZE, they fit now: {sorted(stale)}"


def test_function_level_imports_of_our_own_code_are_the_allowed_ones() -> None:
    found: dict[tuple[str, str], list[int]] = {}
    unexplained = []
    for path in _modules():
        rel = path.relative_to(ROOT).as_posix()
        lines = path.read_text(encoding="utf-8").splitlines()
        for lineno, module in _local_imports(ast.parse("\n".join(lines))):
            found.setdefault((rel, module), []).append(lineno)
            if "# why" not in lines[lineno - 1]:
                unexplained.append(f"{rel}:{lineno}")
    new = {f"{rel}:{at} {module}" for (rel, module), at in found.items() if (rel, module) not in ALLOWED_LOCAL_IMPORTS}
    assert not new, f"function-level imports of project modules: move them to module level: {sorted(new)}"
    stale = sorted(set(ALLOWED_LOCAL_IMPORTS) - set(found))
    assert not stale, f"remove these entries from ALLOWED_LOCAL_IMPORTS, the imports are gone: {stale}"
    assert not unexplained, f"an allowed function-level import says `# why` on its line: {unexplained}"


def test_every_allowed_function_level_import_has_a_reason() -> None:
    assert len(ALLOWED_LOCAL_IMPORTS) <= 8, "at most a handful (issue 19)"
    assert all(len(reason) > 20 for reason in ALLOWED_LOCAL_IMPORTS.values())


def test_the_counter_sees_function_level_imports_only() -> None:
    source = (
        "import evaluator\nimport importlib\n\n"
        "def f(name):\n    from evaluator import items\n    import json\n    import space.app\n"
        "    from . import sibling\n    importlib.import_module('leaderboard.query')\n"
        "    importlib.import_module('pandas')\n    importlib.import_module(name)\n\n"
        "if TYPE_CHECKING:\n    from evaluator.items import Item\n\n"
        "class C:\n    def m(self):\n        from submissions.queue import Queue\n"
    )
    assert _local_imports(ast.parse(source)) == [
        (5, "evaluator"),
        (7, "space.app"),
        (8, "."),
        (9, "leaderboard.query"),
        (11, DYNAMIC),
        (18, "submissions.queue"),
    ]


def test_the_import_contracts_hold() -> None:
    linter = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if linter is None:
        pytest.skip("import-linter is not installed (make setup-dev installs it)")
    done = subprocess.run([linter, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
