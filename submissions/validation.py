"""Validation of a submission, cheap checks first, each failure one readable sentence.

Order (issue 3): well-formed input; the model exists, is public and readable; the revision
resolves to a commit; safetensors weights; a parameter count under the limit; a chat
template; a license; loadable without remote code; not a duplicate; under the rate limit.
Nothing here writes anything. A reason never quotes the raw input when the input is what
is wrong with it: reasons are shown on a web page, and a hostile id must not travel there.
"""

from __future__ import annotations

import functools
import re
import string
import unicodedata
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from evaluator.backends.spec import SpecError, parse_spec
from submissions.config import Settings
from submissions.errors import SubmissionRejected
from submissions.hub import FileTooLarge, HubClient, HubModel, RepoNotFound, RevisionNotFound
from submissions.ratelimit import RateLimit
from submissions.records import ACTIVE_OR_DONE, RequestRecord, normalise_user, one_line, utcnow
from submissions.target import SetRef

PRECISIONS: Final = ("auto", "bfloat16", "float16", "float32")
DEFAULT_REVISION: Final = "main"
MAX_PART_LENGTH: Final = 96
MAX_MODEL_ID_LENGTH: Final = 2 * MAX_PART_LENGTH + 1
MAX_REVISION_LENGTH: Final = 128
MAX_API_MODEL_LENGTH: Final = 200
MAX_BASE_URL_LENGTH: Final = 300
CHAT_TEMPLATE_FILES: Final = ("chat_template.jinja", "chat_template.json")

_ID_CHARS: Final = frozenset(string.ascii_letters + string.digits + "-_.")
_REVISION_CHARS: Final = _ID_CHARS | {"/"}
_API_MODEL_CHARS: Final = _REVISION_CHARS | set(":@+")
_URL_CHARS: Final = frozenset(string.ascii_letters + string.digits + "-._~:/[]")
_HOST: Final = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])$")
_URL_PATH: Final = re.compile(r"^[A-Za-z0-9._~/-]*$")
_USER: Final = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$")
_SHA: Final = re.compile(r"^[0-9a-f]{40}$")

# The check names, in the order they run; a rejection names the one that failed.
CHECKS: Final = (
    "well_formed",
    "exists",
    "revision",
    "safetensors",
    "parameters",
    "chat_template",
    "license",
    "remote_code",
    "duplicate",
    "rate_limit",
)


def _describe(char: str) -> str:
    code = f"U+{ord(char):04X}"
    category = unicodedata.category(char)
    if char == "\x00":
        return f"a NUL byte ({code})"
    if category == "Cc":
        return f"a control character ({code})"
    if category == "Cf":
        return f"an invisible formatting character ({code})"
    if char.isspace():
        return f"whitespace ({code})"
    if ord(char) > 127:
        return f"a non-ASCII character ({code})"
    return f"the character {char!r}"


def _bad_char(text: str, allowed: Collection[str]) -> str | None:
    for char in text:
        if char not in allowed:
            return _describe(char)
    return None


def model_id_problem(model: object) -> str | None:
    """Why `model` is not a well-formed Hub id ORG/NAME, or None."""
    if not isinstance(model, str) or not model.strip():
        return "the model id is empty: give the Hugging Face id as ORG/NAME"
    if len(model) > MAX_MODEL_ID_LENGTH:
        return f"the model id is too long ({len(model)} characters, at most {MAX_MODEL_ID_LENGTH})"
    if "://" in model or model.lower().startswith(("huggingface.co", "www.", "hf.co")):
        return "give the model id as ORG/NAME, not a URL"
    bad = _bad_char(model, _ID_CHARS | {"/"})
    if bad:
        return f"the model id contains {bad}: use only ASCII letters, digits, '-', '_' and '.' in ORG/NAME"
    parts = model.split("/")
    if len(parts) != 2:
        return f"the model id must be ORG/NAME with exactly one '/' (it has {len(parts) - 1})"
    for label, part in zip(("ORG", "NAME"), parts, strict=True):
        if not part:
            return f"the model id has an empty {label}: give it as ORG/NAME"
        if part in (".", "..") or ".." in part or "--" in part:
            return f"the model id's {label} may not contain '..' or '--'"
        if part[0] in ".-" or part[-1] in ".-":
            return f"the model id's {label} may not start or end with '.' or '-'"
        if len(part) > MAX_PART_LENGTH:
            return f"the model id's {label} is longer than {MAX_PART_LENGTH} characters"
    try:
        parse_spec(f"hf:{model}")
    except SpecError:
        return "the model id is not a valid Hugging Face id ORG/NAME"
    return None


def revision_problem(revision: object) -> str | None:
    if not isinstance(revision, str) or not revision:
        return "the revision is empty: give a branch, tag or commit SHA (default main)"
    if len(revision) > MAX_REVISION_LENGTH:
        return f"the revision is too long ({len(revision)} characters, at most {MAX_REVISION_LENGTH})"
    bad = _bad_char(revision, _REVISION_CHARS)
    if bad:
        return f"the revision contains {bad}: use a branch, tag or commit SHA"
    if revision[0] in "./-" or revision[-1] in "./" or ".." in revision or "//" in revision:
        return "the revision is not a branch, tag or commit SHA (no leading '.', '/' or '-', no '..' or '//')"
    return None


def precision_problem(precision: object) -> str | None:
    if precision not in PRECISIONS:
        return f"unknown precision: expected one of {', '.join(PRECISIONS)}"
    return None


def submitter_problem(user: object) -> str | None:
    if not isinstance(user, str) or not user:
        return "sign in with your Hugging Face account to submit"
    # Checked as stored (normalised), with full-string matching: "alice\n" is alice.
    user = normalise_user(user)
    if len(user) > MAX_PART_LENGTH or not _USER.fullmatch(user) or ".." in user:
        return "the submitter is not a valid Hugging Face user name"
    return None


def api_model_problem(name: object) -> str | None:
    if not isinstance(name, str) or not name:
        return "the API model name is empty"
    if len(name) > MAX_API_MODEL_LENGTH:
        return f"the API model name is too long ({len(name)} characters, at most {MAX_API_MODEL_LENGTH})"
    bad = _bad_char(name, _API_MODEL_CHARS)
    if bad:
        return f"the API model name contains {bad}"
    if not name[0].isalnum() or ".." in name or "//" in name:
        return "the API model name must start with a letter or digit and contain no '..' or '//'"
    return None


def base_url_problem(url: object) -> str | None:
    """An OpenAI-compatible endpoint: http(s), a host name, a plain path; no credentials or query.

    Records are public; a key pasted into the URL (user:key@host, ?api_key=) would be published.
    """
    if not isinstance(url, str) or not url:
        return "an API model needs the provider's base URL, e.g. https://api.example.com/v1"
    if len(url) > MAX_BASE_URL_LENGTH:
        return f"the base URL is too long (at most {MAX_BASE_URL_LENGTH} characters)"
    # Keys pasted into the URL get their own reason, before any character-level complaint.
    authority = url.split("://", 1)[-1].split("/", 1)[0]
    if "@" in authority:
        return "the base URL must not contain credentials: the worker reads the API key from its environment"
    if "?" in url or "#" in url:
        return "the base URL must not have a query or fragment (keys never go in the URL)"
    bad = _bad_char(url, _URL_CHARS)
    if bad:
        return f"the base URL contains {bad}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- parsing the port is what raises for a malformed one
    except ValueError:
        return "the base URL is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return "the base URL must start with https:// (or http://) and name a host"
    if not _HOST.fullmatch(parts.hostname) or ".." in parts.hostname:
        return "the base URL's host is not a valid host name"
    if not _URL_PATH.fullmatch(parts.path) or any(seg in (".", "..") for seg in parts.path.split("/")):
        return "the base URL's path may hold only letters, digits, '-', '.', '_', '~' and '/'"
    return None


def duplicate_reason(records: Iterable[RequestRecord], identity: str, target: SetRef, *, shown: str) -> str | None:
    for record in records:
        if (
            record.status in ACTIVE_OR_DONE
            and record.identity == identity
            and record.set_name == target.name
            and record.set_version == target.version
        ):
            state = {"PENDING_APPROVAL": "awaiting approval", "PENDING": "queued", "RUNNING": "running"}.get(
                record.status, "already evaluated"
            )
            return f"{shown} is {state} on set {target} (request {record.id})"
    return None


def conversation_duplicate_reason(
    records: Iterable[RequestRecord], identity: str, personas: SetRef, *, shown: str
) -> str | None:
    """The duplicate check of a conversation-only re-evaluation: per persona set version."""
    for record in records:
        if (
            record.status in ACTIVE_OR_DONE
            and record.identity == identity
            and (record.persona_set, record.persona_version) == (personas.name, personas.version)
        ):
            state = {"PENDING": "queued", "RUNNING": "running"}.get(record.status, "already evaluated")
            return f"{shown} is {state} on persona set {personas} (request {record.id})"
    return None


MODEL_TYPES_FILE: Final = Path(__file__).with_name("model_types.txt")


def parse_model_types(text: str) -> frozenset[str]:
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


@functools.lru_cache(maxsize=1)
def transformers_model_types() -> frozenset[str] | None:
    """Architectures transformers loads without remote code, from the list the project ships.

    Not from an installed transformers: the Space has none, and the Space and the CLI must
    give the same answer (scripts/refresh_model_types.py rewrites the list from transformers).
    None only if the list is missing, which turns the check off.
    """
    try:
        return parse_model_types(MODEL_TYPES_FILE.read_text(encoding="utf-8")) or None
    except OSError:
        return None


@dataclass(frozen=True)
class ValidSubmission:
    model: str
    revision: str
    sha: str
    precision: str
    chat: bool
    params: int
    license: str
    submitter: str
    maintainer: bool
    target: SetRef

    @property
    def spec(self) -> str:
        return f"hf:{self.model}@{self.sha}"

    @property
    def identity(self) -> str:
        return f"hf:{self.model.lower()}@{self.sha}"


def _reject(check: str, reason: str) -> SubmissionRejected:
    return SubmissionRejected(one_line(reason), check)


def _format_params(n: int) -> str:
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"


class Validator:
    def __init__(
        self,
        hub: HubClient,
        *,
        target: SetRef,
        settings: Settings | None = None,
        known_model_types: Callable[[], Collection[str] | None] = transformers_model_types,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.hub = hub
        self.target = target
        self.settings = settings or Settings()
        self.known_model_types = known_model_types
        self.rate_limit = RateLimit(self.settings.rate_limit, self.settings.rate_window)
        self.clock = clock

    def validate(
        self,
        *,
        model: str,
        revision: str | None = None,
        precision: str = "auto",
        chat: bool = True,
        submitter: str | None,
        maintainer: bool = False,
        existing: Callable[[], Sequence[RequestRecord]] = list,
    ) -> ValidSubmission:
        """The submission, resolved and pinned; or SubmissionRejected naming the failed check."""
        revision = DEFAULT_REVISION if revision is None else revision
        for problem in (
            model_id_problem(model),
            revision_problem(revision),
            precision_problem(precision),
            submitter_problem(submitter),
        ):
            if problem:
                raise _reject("well_formed", problem)
        assert submitter is not None

        self._exists(model)
        pinned = self._resolve(model, revision)
        sha = pinned.sha or ""
        at = f"{model}@{sha[:7]}"
        files = pinned.files
        if not any(f.endswith(".safetensors") for f in files):
            raise _reject(
                "safetensors",
                f"{at} has no safetensors weights; pickled .bin weights are not loaded, so convert them to safetensors",
            )
        params = self.hub.parameter_count(model, sha)
        if not params or params <= 0:
            raise _reject("parameters", f"could not read the parameter count from the safetensors metadata of {at}")
        if params > self.settings.max_params:
            raise _reject(
                "parameters",
                f"{at} has {_format_params(params)} parameters, above this leaderboard's limit of "
                f"{_format_params(self.settings.max_params)}",
            )
        self._chat_template(model, sha, files, at)
        license_name = pinned.license
        if not license_name or not license_name.strip():
            raise _reject("license", f"{at} has no license in its model card; add `license:` to the README metadata")
        self._loads_without_remote_code(model, sha, at)

        records = existing()
        duplicate = duplicate_reason(records, f"hf:{model.lower()}@{sha}", self.target, shown=at)
        if duplicate:
            raise _reject("duplicate", duplicate)
        refusal = self.rate_limit.refusal(records, submitter, self.clock(), maintainer=maintainer)
        if refusal:
            raise _reject("rate_limit", refusal)
        return ValidSubmission(
            model=model,
            revision=revision,
            sha=sha,
            precision=precision,
            chat=chat,
            params=params,
            license=one_line(license_name, 100),
            submitter=submitter,
            maintainer=maintainer,
            target=self.target,
        )

    def _exists(self, model: str) -> None:
        try:
            info = self.hub.model_info(model, None)
        except RepoNotFound:
            raise _reject(
                "exists", f"model {model} was not found on the Hugging Face Hub (private models cannot be submitted)"
            ) from None
        except RevisionNotFound:  # no default branch: an empty repository
            raise _reject("exists", f"model {model} has no files on the Hugging Face Hub") from None
        if info.disabled:
            raise _reject("exists", f"model {model} has been disabled on the Hugging Face Hub")
        if info.private:
            raise _reject("exists", f"model {model} is private; only public models can be evaluated")
        if info.gated and not self.hub.can_read(model):
            raise _reject(
                "exists",
                f"model {model} is gated and the leaderboard has not been granted access; "
                "grant access to the leaderboard's account or ask a maintainer",
            )

    def _resolve(self, model: str, revision: str) -> HubModel:
        try:
            info = self.hub.model_info(model, revision)
        except (RevisionNotFound, RepoNotFound):
            raise _reject(
                "revision", f"revision {revision} of {model} was not found: give a branch, tag or commit SHA"
            ) from None
        sha = info.sha or ""
        if not _SHA.fullmatch(sha):
            raise _reject("revision", f"the Hub did not resolve revision {revision} of {model} to a commit")
        if _SHA.fullmatch(revision.lower()) and sha != revision.lower():
            raise _reject("revision", f"revision {revision} of {model} resolved to a different commit")
        return info

    def _read_json(self, model: str, filename: str, sha: str, at: str, check: str) -> Any:
        try:
            return self.hub.read_json(model, filename, sha)
        except FileTooLarge as exc:  # bounded before a byte is read: the submitter chose the file
            raise _reject(check, f"{at}: {exc}") from None

    def _chat_template(self, model: str, sha: str, files: Sequence[str], at: str) -> None:
        if any(f in CHAT_TEMPLATE_FILES for f in files):
            return
        config = (
            self._read_json(model, "tokenizer_config.json", sha, at, "chat_template")
            if "tokenizer_config.json" in files
            else None
        )
        template = config.get("chat_template") if isinstance(config, dict) else None
        if isinstance(template, str) and template.strip():
            return
        if isinstance(template, list) and any(isinstance(t, dict) and t.get("template") for t in template):
            return
        raise _reject(
            "chat_template",
            f"{at} has no chat template in its tokenizer config; the leaderboard talks to models through their own "
            "chat template",
        )

    def _loads_without_remote_code(self, model: str, sha: str, at: str) -> None:
        config: Any = self._read_json(model, "config.json", sha, at, "remote_code")
        if not isinstance(config, dict):
            raise _reject("remote_code", f"{at} has no readable config.json, so transformers cannot load it")
        model_type = config.get("model_type")
        if not isinstance(model_type, str) or not model_type:
            raise _reject(
                "remote_code",
                f"{at} names no model_type in config.json, so it cannot load with trust_remote_code=False",
            )
        known = self.known_model_types()
        if known is None or model_type in known:
            return
        if config.get("auto_map"):
            raise _reject(
                "remote_code",
                f"{at} needs its own modelling code (trust_remote_code=True), which the leaderboard does not run",
            )
        shown = f"'{model_type}'" if model_type.isascii() and model_type.isprintable() and len(model_type) <= 40 else ""
        raise _reject(
            "remote_code", f"{at}: transformers does not know its architecture {shown}".rstrip() + ", so it cannot load"
        )
