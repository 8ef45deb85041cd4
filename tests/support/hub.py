"""A scripted Hugging Face Hub for validation tests: answers from a dict, records every call.

`ScriptedHub.good(...)` gives a model that passes every check; tests then break one thing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

from submissions.errors import HubUnavailable
from submissions.hub import HubModel, RepoNotFound, RevisionNotFound

GOOD_TOKENIZER_CONFIG: dict[str, Any] = {"chat_template": "{% for m in messages %}{{ m['content'] }}{% endfor %}"}
GOOD_CONFIG: dict[str, Any] = {"model_type": "llama", "architectures": ["LlamaForCausalLM"]}
GOOD_FILES = ("config.json", "model.safetensors", "tokenizer_config.json", "tokenizer.json", "README.md")


def sha_for(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass
class ScriptedModel:
    repo_id: str
    revisions: dict[str, str]  # branch/tag -> commit sha; "main" is the default branch
    private: bool = False
    gated: bool = False
    readable: bool = True  # whether our token may read it when gated
    disabled: bool = False
    files: tuple[str, ...] = GOOD_FILES
    license: str | None = "apache-2.0"
    params: int | None = 1_500_000_000
    json_files: dict[str, Any] = field(
        default_factory=lambda: {"config.json": dict(GOOD_CONFIG), "tokenizer_config.json": dict(GOOD_TOKENIZER_CONFIG)}
    )

    @property
    def sha(self) -> str:
        return self.revisions["main"]


class ScriptedHub:
    def __init__(self, *models: ScriptedModel, unavailable: bool = False) -> None:
        self.models = {m.repo_id.lower(): m for m in models}
        self.unavailable = unavailable
        self.calls: list[tuple[str, ...]] = []

    @staticmethod
    def good(repo_id: str = "good-org/good-model", **changes: Any) -> ScriptedModel:
        model = ScriptedModel(repo_id, {"main": sha_for(repo_id + "@main"), "v1": sha_for(repo_id + "@v1")})
        return replace(model, **changes)

    def _model(self, repo_id: str) -> ScriptedModel:
        if self.unavailable:
            raise HubUnavailable()
        try:
            return self.models[repo_id.lower()]
        except KeyError:
            raise RepoNotFound() from None

    def model_info(self, repo_id: str, revision: str | None = None) -> HubModel:
        self.calls.append(("model_info", repo_id, str(revision)))
        m = self._model(repo_id)
        rev = revision or "main"
        if rev in m.revisions:
            sha = m.revisions[rev]
        elif rev in m.revisions.values():
            sha = rev
        else:
            raise RevisionNotFound()
        return HubModel(
            repo_id=m.repo_id,
            sha=sha,
            private=m.private,
            gated=m.gated,
            disabled=m.disabled,
            files=m.files,
            license=m.license,
        )

    def can_read(self, repo_id: str) -> bool:
        self.calls.append(("can_read", repo_id))
        return self._model(repo_id).readable

    def parameter_count(self, repo_id: str, sha: str) -> int | None:
        self.calls.append(("parameter_count", repo_id, sha))
        return self._model(repo_id).params

    def read_json(self, repo_id: str, filename: str, sha: str) -> Any:
        self.calls.append(("read_json", repo_id, filename, sha))
        m = self._model(repo_id)
        if filename not in m.files:
            return None
        return m.json_files.get(filename)
