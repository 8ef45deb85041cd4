"""What validation asks the Hugging Face Hub, behind a small injected interface.

`HubClient` is the few questions validation needs; `HfHubClient` answers them with
huggingface_hub, and tests answer them from a script (tests/support/hub.py). Every Hub
failure becomes one of the exceptions below, so validation never sees a vendor exception.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

from submissions.errors import HubUnavailable

T = TypeVar("T")

UNREACHABLE = "cannot reach the Hugging Face Hub"


class HubLookupError(Exception):
    """The Hub answered, and the answer is no."""


class RepoNotFound(HubLookupError):
    pass


class RevisionNotFound(HubLookupError):
    pass


class RepoGated(HubLookupError):
    pass


class FileTooLarge(HubLookupError):
    """A submitter's file is over the size the Space reads; the message says which and how big."""


MAX_JSON_BYTES: Final = 2 * 1024 * 1024  # config.json, tokenizer_config.json: real ones are kilobytes
_CHUNK: Final = 64 * 1024


@dataclass(frozen=True)
class HubModel:
    repo_id: str
    sha: str | None
    private: bool = False
    gated: bool = False
    disabled: bool = False
    files: tuple[str, ...] = ()
    license: str | None = None


class HubClient(Protocol):
    def model_info(self, repo_id: str, revision: str | None = None) -> HubModel:
        """Raises RepoNotFound, RevisionNotFound or HubUnavailable."""
        ...

    def can_read(self, repo_id: str) -> bool:
        """Whether our token may download a gated repo's files."""
        ...

    def parameter_count(self, repo_id: str, sha: str) -> int | None:
        """Total parameters from the safetensors metadata; None if it cannot be read."""
        ...

    def read_json(self, repo_id: str, filename: str, sha: str) -> Any:
        """A JSON file of the repo at that commit: None if absent, the raw text if it is not JSON."""
        ...


class HfHubClient:
    """The real Hub. `token` None means huggingface_hub's own default ($HF_TOKEN, saved login)."""

    def __init__(self, token: str | None = None, *, endpoint: str | None = None, timeout_s: float = 10.0) -> None:
        from huggingface_hub import HfApi  # imported late: it is slow to import, and only submit needs it

        self._api = HfApi(endpoint=endpoint, token=token)
        self._timeout_s = timeout_s

    def model_info(self, repo_id: str, revision: str | None = None) -> HubModel:
        info = _ask(lambda: self._api.model_info(repo_id, revision=revision, timeout=self._timeout_s))
        card = info.card_data
        license_value: Any = getattr(card, "license", None) if card is not None else None
        if isinstance(license_value, list):
            license_value = ", ".join(str(v) for v in license_value)
        if license_value == "other" and card is not None and getattr(card, "license_name", None):
            license_value = f"other ({card.license_name})"
        if not license_value:
            license_value = next((t.split(":", 1)[1] for t in info.tags or () if t.startswith("license:")), None)
        return HubModel(
            repo_id=info.id,
            sha=info.sha,
            private=bool(info.private),
            gated=bool(info.gated),
            disabled=bool(info.disabled),
            files=tuple(s.rfilename for s in info.siblings or ()),
            license=str(license_value) if license_value else None,
        )

    def can_read(self, repo_id: str) -> bool:
        try:
            _ask(lambda: self._api.auth_check(repo_id))
        except (RepoGated, RepoNotFound):
            return False
        return True

    def parameter_count(self, repo_id: str, sha: str) -> int | None:
        from huggingface_hub.errors import NotASafetensorsRepoError, SafetensorsParsingError

        try:
            meta = _ask(lambda: self._api.get_safetensors_metadata(repo_id, revision=sha, timeout=self._timeout_s))
        except (NotASafetensorsRepoError, SafetensorsParsingError, HubLookupError):
            return None
        total = sum(meta.parameter_count.values())
        return total or None

    def read_json(self, repo_id: str, filename: str, sha: str) -> Any:
        """The file's size from the Hub's metadata first: over MAX_JSON_BYTES raises FileTooLarge
        without a byte of it downloaded; otherwise it is streamed into memory (never to disk),
        and a server that sends more than it announced is cut off at the bound."""
        from huggingface_hub.hf_api import RepoFile

        infos = _ask(lambda: self._api.get_paths_info(repo_id, [filename], revision=sha, repo_type="model"))
        entry = next((i for i in infos if isinstance(i, RepoFile) and i.path == filename), None)
        if entry is None:
            return None
        if entry.size > MAX_JSON_BYTES:
            raise FileTooLarge(_too_large(filename, entry.size))
        content = _ask(lambda: self._download_bounded(repo_id, filename, sha))
        text = content.decode("utf-8", errors="replace")
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text

    def _download_bounded(self, repo_id: str, filename: str, sha: str) -> bytes:
        from huggingface_hub import hf_hub_url
        from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

        url = hf_hub_url(repo_id, filename, revision=sha, endpoint=self._api.endpoint)
        headers = build_hf_headers(token=self._api.token)
        got = bytearray()
        with get_session().stream(
            "GET", url, headers=headers, follow_redirects=True, timeout=self._timeout_s
        ) as response:
            hf_raise_for_status(response)
            for chunk in response.iter_bytes(_CHUNK):
                got += chunk
                if len(got) > MAX_JSON_BYTES:
                    raise FileTooLarge(_too_large(filename, None))
        return bytes(got)


def _too_large(filename: str, size: int | None) -> str:
    shown = f"{size / 1e6:.1f} MB" if size is not None else "more than it announced"
    return f"its {filename} is too large ({shown}; at most {MAX_JSON_BYTES // (1024 * 1024)} MB is read)"


_NETWORK_ERROR_NAMES = frozenset(
    {"TransportError", "TimeoutException", "ConnectError", "ConnectTimeout", "ReadTimeout"}
)


def _is_network_error(exc: BaseException) -> bool:
    # huggingface_hub's HTTP stack has changed libraries across versions; match the transport
    # failure classes by name rather than importing one particular HTTP library.
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    return any(cls.__name__ in _NETWORK_ERROR_NAMES for cls in type(exc).__mro__)


def _ask(call: Callable[[], T]) -> T:
    """Run one Hub call, turning its failures into this module's exceptions."""
    from huggingface_hub.errors import (
        DisabledRepoError,
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        return call()
    except EntryNotFoundError:
        raise  # a missing file is an answer for the caller, not a missing repository
    except OfflineModeIsEnabled:
        raise HubUnavailable(f"{UNREACHABLE} (offline mode is on); try again later") from None
    except GatedRepoError:
        raise RepoGated() from None
    except (RepositoryNotFoundError, DisabledRepoError):
        raise RepoNotFound() from None
    except RevisionNotFoundError:
        raise RevisionNotFound() from None
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status == 404:
            raise RepoNotFound() from None
        raise HubUnavailable(
            f"{UNREACHABLE}: it answered with an error (HTTP {status or 'unknown'}); try again later"
        ) from None
    except Exception as exc:
        if _is_network_error(exc):
            raise HubUnavailable(f"{UNREACHABLE}; try again later") from None
        raise
