"""HfHubClient's submission checks over real HTTP: the real huggingface_hub client against the Hub emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from submissions.errors import HubUnavailable, SubmissionRejected
from submissions.hub import HfHubClient, RepoNotFound, RevisionNotFound
from submissions.validation import Validator
from tests.submissions.conftest import KNOWN_TYPES, TARGET, FakeClock
from tests.support.hub_emulator import HubEmulator

MODEL = "good-org/good-model"


def validator(clock: FakeClock | None = None, **kwargs: Any) -> Validator:
    return Validator(
        HfHubClient(**kwargs),
        target=TARGET,
        known_model_types=lambda: KNOWN_TYPES,
        clock=clock or FakeClock(),
    )


def check(**submission: Any) -> Any:
    return validator().validate(submitter="alice", **{"model": MODEL, **submission})


def rejected(**submission: Any) -> SubmissionRejected:
    with pytest.raises(SubmissionRejected) as exc:
        check(**submission)
    return exc.value


def test_model_info_and_commit_sha(hub_emulator: HubEmulator) -> None:
    repo = hub_emulator.seed_model(MODEL, license="llama3", tags={"v1": {"notes.txt": "first"}})
    hub = HfHubClient()
    info = hub.model_info(MODEL)
    assert info.sha == repo.head.oid
    assert not info.private and not info.gated and not info.disabled
    assert {"config.json", "model.safetensors", "tokenizer_config.json", "README.md"} <= set(info.files)
    assert info.license == "llama3"
    tagged = hub.model_info(MODEL, "v1")
    assert tagged.sha == repo.tags["v1"] != repo.head.oid and "notes.txt" in tagged.files
    assert hub.model_info(MODEL, repo.head.oid).sha == repo.head.oid
    with pytest.raises(RevisionNotFound):
        hub.model_info(MODEL, "no-such-branch")
    with pytest.raises(RepoNotFound):
        hub.model_info("good-org/absent")


def test_a_good_model_passes_every_check_and_is_pinned(hub_emulator: HubEmulator) -> None:
    repo = hub_emulator.seed_model(MODEL, params=7_241_732_096)
    valid = check()
    assert valid.sha == repo.head.oid
    assert valid.params == 7_241_732_096
    assert valid.license == "apache-2.0"
    # The checks really went over HTTP: model info, the safetensors header by range, the tokenizer config.
    paths = [p for _, p, _ in hub_emulator.requests]
    assert f"/api/models/{MODEL}/revision/main" in paths
    assert f"/{MODEL}/resolve/{repo.head.oid}/model.safetensors" in paths
    assert f"/{MODEL}/resolve/{repo.head.oid}/tokenizer_config.json" in paths


def test_parameter_count_from_the_safetensors_header(hub_emulator: HubEmulator) -> None:
    repo = hub_emulator.seed_model(MODEL, params=3_000_000_000)
    assert HfHubClient().parameter_count(MODEL, repo.head.oid) == 3_000_000_000


def test_sharded_safetensors_are_counted_through_the_index(hub_emulator: HubEmulator, tmp_path: Path) -> None:
    from tests.support.hub_emulator import safetensors_bytes

    shards = {
        "model-00001-of-00002.safetensors": safetensors_bytes({"a": ("BF16", [1000, 1000])}),
        "model-00002-of-00002.safetensors": safetensors_bytes({"b": ("BF16", [500, 1000])}),
    }
    index = {
        "metadata": {},
        "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"},
    }
    repo = hub_emulator.seed_model(
        MODEL, params=None, extra_files={**shards, "model.safetensors.index.json": json.dumps(index)}
    )
    assert HfHubClient().parameter_count(MODEL, repo.head.oid) == 1_500_000


def test_too_many_parameters_is_refused(hub_emulator: HubEmulator) -> None:
    hub_emulator.seed_model(MODEL, params=400_000_000_000)
    assert rejected().check == "parameters"


def test_no_safetensors_is_refused(hub_emulator: HubEmulator) -> None:
    hub_emulator.seed_model(MODEL, params=None, extra_files={"pytorch_model.bin": b"\x80\x02"})
    assert rejected().check == "safetensors"


def test_missing_chat_template_is_refused(hub_emulator: HubEmulator) -> None:
    hub_emulator.seed_model(MODEL, chat_template=None)
    err = rejected()
    assert err.check == "chat_template"


def test_chat_template_file_instead_of_tokenizer_config(hub_emulator: HubEmulator) -> None:
    hub_emulator.seed_model(MODEL, chat_template=None, extra_files={"chat_template.jinja": "{{ messages }}"})
    assert check().sha


def test_license_comes_from_the_card(hub_emulator: HubEmulator) -> None:
    hub_emulator.seed_model(MODEL, license=None)
    assert rejected().check == "license"


def test_private_model_is_invisible_and_refused(hub_emulator: HubEmulator) -> None:
    hub_emulator.seed_model("crisis-org/private-model", private=True)
    hub_emulator.seed_model("other-org/private-model", private=True)
    # Our own org's private model is visible to us, and refused for being private.
    err = rejected(model="crisis-org/private-model")
    assert err.check == "exists" and "private" in str(err)
    # Someone else's private model is, as on the Hub, simply not there.
    err = rejected(model="other-org/private-model")
    assert err.check == "exists" and "not found" in str(err)


def test_gated_model_needs_access(hub_emulator: HubEmulator) -> None:
    hub_emulator.seed_model(MODEL, gated="manual")
    hub = HfHubClient()
    assert hub.model_info(MODEL).gated
    assert hub.can_read(MODEL) is False
    err = rejected()
    assert err.check == "exists" and "gated" in str(err)
    hub_emulator.grant(MODEL, hub_emulator.user)
    assert hub.can_read(MODEL) is True
    assert check().sha


def test_read_json_of_a_missing_file_and_of_bad_json(hub_emulator: HubEmulator) -> None:
    repo = hub_emulator.seed_model(MODEL, extra_files={"broken.json": "{not json"})
    hub = HfHubClient()
    assert hub.read_json(MODEL, "absent.json", repo.head.oid) is None
    assert hub.read_json(MODEL, "broken.json", repo.head.oid) == "{not json"
    assert hub.read_json(MODEL, "config.json", repo.head.oid)["model_type"] == "llama"


def test_a_read_only_token_is_enough(hub_emulator: HubEmulator) -> None:
    hub_emulator.seed_model(MODEL)
    assert validator(token=hub_emulator.read_token).validate(model=MODEL, submitter="alice").sha


def test_the_hub_down_is_unavailable_not_a_rejection(hub_emulator: HubEmulator) -> None:
    hub_emulator.seed_model(MODEL)
    hub_emulator.down()
    with pytest.raises(HubUnavailable):
        check()


def test_the_hub_answering_500_is_unavailable(hub_emulator: HubEmulator) -> None:
    hub_emulator.seed_model(MODEL)
    hub_emulator.fail_next(1, path_contains=f"/api/models/{MODEL}")
    with pytest.raises(HubUnavailable, match="HTTP 500"):
        check()
