"""Issue 17.6: files the submitter controls are never read whole.

`config.json` and `tokenizer_config.json` come from the submitted repo: the Space asks the
Hub for their size first and refuses one over the bound with a clear reason, without
downloading it. Real huggingface_hub over HTTP to the Hub emulator.
"""

from __future__ import annotations

import json

import pytest

from submissions.errors import SubmissionRejected
from submissions.hub import MAX_JSON_BYTES, HfHubClient
from submissions.validation import Validator
from tests.submissions.conftest import KNOWN_TYPES, TARGET, FakeClock
from tests.support.hub_emulator import HubEmulator

MODEL = "big-org/huge-config"
HUGE = 8 * 1024 * 1024


def _huge_json(**fields: object) -> str:
    # Valid JSON that passes every other check, padded far past the bound.
    return json.dumps({**fields, "padding": "x" * HUGE})


def _validate() -> object:
    validator = Validator(HfHubClient(), target=TARGET, known_model_types=lambda: KNOWN_TYPES, clock=FakeClock())
    return validator.validate(submitter="alice", model=MODEL)


@pytest.mark.parametrize(
    "filename, content",
    [
        ("config.json", _huge_json(model_type="llama", architectures=["LlamaForCausalLM"])),
        ("tokenizer_config.json", _huge_json(chat_template="{{ messages }}")),
    ],
)
def test_a_huge_submitter_file_is_refused_from_its_size_without_downloading_it(
    hub_emulator: HubEmulator, filename: str, content: str
) -> None:
    hub_emulator.seed_model(MODEL, extra_files={filename: content})
    hub_emulator.requests.clear()
    with pytest.raises(SubmissionRejected) as refused:
        _validate()
    reason = str(refused.value)
    assert filename in reason and "too large" in reason and "\n" not in reason, reason
    downloads = [(m, p) for m, p, _status in hub_emulator.requests if "/resolve/" in p and p.endswith("/" + filename)]
    assert downloads == [], f"the file was downloaded: {downloads}"


def test_a_file_within_the_bound_is_read_in_memory(hub_emulator: HubEmulator) -> None:
    hub_emulator.seed_model(
        MODEL,
        extra_files={"config.json": json.dumps({"model_type": "llama", "n": "y" * 1000}), "notes.json": "{torn"},
    )
    hub = HfHubClient()
    sha = hub.model_info(MODEL).sha or ""
    assert hub.read_json(MODEL, "config.json", sha)["model_type"] == "llama"
    assert hub.read_json(MODEL, "notes.json", sha) == "{torn"  # not JSON: the raw text
    assert hub.read_json(MODEL, "absent.json", sha) is None
    assert MAX_JSON_BYTES == 2 * 1024 * 1024
