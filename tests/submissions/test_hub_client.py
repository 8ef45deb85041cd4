"""HfHubClient's translation of huggingface_hub answers and errors, with a fake HfApi (no network)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    NotASafetensorsRepoError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import ModelInfo

from submissions.errors import HubUnavailable
from submissions.hub import HfHubClient, RepoNotFound, RevisionNotFound

httpx2 = pytest.importorskip("httpx2", reason="the HTTP library huggingface_hub 2.x builds its errors on")


def response(status: int) -> Any:
    return httpx2.Response(status, request=httpx2.Request("GET", "https://huggingface.co/api/models/org/m"))


class FakeApi:
    def __init__(self, **answers: Any) -> None:
        self.answers = answers

    def _answer(self, name: str) -> Any:
        value = self.answers[name]
        if isinstance(value, BaseException):
            raise value
        return value

    def model_info(self, repo_id: str, **kwargs: Any) -> Any:
        return self._answer("model_info")

    def auth_check(self, repo_id: str) -> None:
        self._answer("auth_check")

    def get_safetensors_metadata(self, repo_id: str, **kwargs: Any) -> Any:
        return self._answer("safetensors")

    # read_json is tested over real HTTP (tests/attack/test_hub_files.py): it bounds the size first.


def client(**answers: Any) -> HfHubClient:
    hub = HfHubClient()
    hub._api = FakeApi(**answers)  # type: ignore[assignment]
    return hub


def info(**fields: Any) -> ModelInfo:
    base: dict[str, Any] = {
        "id": "org/m",
        "sha": "a" * 40,
        "private": False,
        "gated": False,
        "disabled": False,
        "siblings": [{"rfilename": "model.safetensors"}, {"rfilename": "config.json"}],
        "tags": [],
    }
    base.update(fields)
    return ModelInfo(**base)


def test_model_info_is_translated() -> None:
    got = client(model_info=info(gated="manual", cardData={"license": "other", "license_name": "llama3"})).model_info(
        "org/m"
    )
    assert got.sha == "a" * 40 and got.gated is True and got.private is False
    assert got.files == ("model.safetensors", "config.json")
    assert got.license == "other (llama3)"


def test_license_falls_back_to_the_tags() -> None:
    assert client(model_info=info(tags=["license:mit"])).model_info("org/m").license == "mit"
    assert client(model_info=info()).model_info("org/m").license is None


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (RepositoryNotFoundError("nf", response=response(404)), RepoNotFound),
        (RevisionNotFoundError("nf", response=response(404)), RevisionNotFound),
        (HfHubHTTPError("busy", response=response(503)), HubUnavailable),
        (HfHubHTTPError("slow down", response=response(429)), HubUnavailable),
        (OfflineModeIsEnabled("offline"), HubUnavailable),
        (ConnectionError("refused"), HubUnavailable),
        (TimeoutError("timed out"), HubUnavailable),
        (type("ConnectError", (Exception,), {})("dns"), HubUnavailable),
    ],
)
def test_errors_are_translated(error: BaseException, expected: type[BaseException]) -> None:
    with pytest.raises(expected) as caught:
        client(model_info=error).model_info("org/m")
    if expected is HubUnavailable:
        assert str(caught.value).startswith("cannot reach the Hugging Face Hub")


def test_other_errors_are_not_hidden() -> None:
    with pytest.raises(KeyError):
        client(model_info=KeyError("bug")).model_info("org/m")


def test_gated_access() -> None:
    assert client(auth_check=None).can_read("org/m") is True
    assert client(auth_check=GatedRepoError("no", response=response(403))).can_read("org/m") is False


def test_parameter_count() -> None:
    meta = SimpleNamespace(parameter_count={"BF16": 7_000_000_000, "F32": 1_000})
    assert client(safetensors=meta).parameter_count("org/m", "a" * 40) == 7_000_001_000
    assert client(safetensors=NotASafetensorsRepoError("no")).parameter_count("org/m", "a" * 40) is None
