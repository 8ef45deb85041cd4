"""Issue 17.7: the architecture check needs no transformers, so the Space and the CLI agree.

The Space has no transformers: the check used to vanish there and queue any architecture,
which then reached a GPU worker. The project ships the list of model types transformers
loads without remote code, refreshed by scripts/refresh_model_types.py.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from submissions.errors import SubmissionRejected
from submissions.validation import Validator, transformers_model_types
from tests.submissions.conftest import TARGET, FakeClock
from tests.support.hub import GOOD_CONFIG, ScriptedHub

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_transformers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # As on the Space: `import transformers` fails.
    for name in [m for m in sys.modules if m == "transformers" or m.startswith("transformers.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "transformers", None)
    transformers_model_types.cache_clear()
    yield
    transformers_model_types.cache_clear()


def _validator(*models: object) -> Validator:
    return Validator(ScriptedHub(*models), target=TARGET, clock=FakeClock())  # type: ignore[arg-type]


def test_without_transformers_the_list_is_still_known(no_transformers: None) -> None:
    known = transformers_model_types()
    assert known is not None and {"llama", "mistral", "qwen2", "gemma"} <= set(known)
    assert "made-up-arch" not in known


def test_without_transformers_an_unknown_architecture_is_refused(no_transformers: None) -> None:
    model = ScriptedHub.good(json_files={"config.json": {"model_type": "made-up-arch"}, "tokenizer_config.json": {}})
    model.json_files["tokenizer_config.json"] = {"chat_template": "{{ messages }}"}
    with pytest.raises(SubmissionRejected) as refused:
        _validator(model).validate(submitter="alice", model=model.repo_id)
    assert refused.value.check == "remote_code" and "made-up-arch" in str(refused.value)
    good = ScriptedHub.good()
    assert good.json_files["config.json"] == GOOD_CONFIG
    assert _validator(good).validate(submitter="alice", model=good.repo_id).model == good.repo_id


def test_the_shipped_list_matches_the_installed_transformers() -> None:
    pytest.importorskip("transformers")
    out = subprocess.run(
        [sys.executable, "scripts/refresh_model_types.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
