"""Every validation rule, accepted and rejected, in order, against a scripted Hub."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from evaluator.storage import DataDir
from submissions.errors import HubUnavailable, SubmissionRejected
from submissions.intake import submit
from submissions.queue import Queue
from submissions.records import RequestRecord, Status
from submissions.validation import CHECKS, Validator, base_url_problem, model_id_problem
from tests.submissions.conftest import TARGET, FakeClock, make_validator, snapshot
from tests.support.hub import GOOD_CONFIG, ScriptedHub, ScriptedModel

GOOD = "good-org/good-model"


def validate(validator: Validator, existing: list[RequestRecord] | None = None, **kwargs: Any) -> Any:
    args: dict[str, Any] = {"model": GOOD, "submitter": "alice"}
    args.update(kwargs)
    return validator.validate(existing=lambda: existing or [], **args)


def rejection(validator: Validator, **kwargs: Any) -> SubmissionRejected:
    with pytest.raises(SubmissionRejected) as info:
        validate(validator, **kwargs)
    reason = info.value.reason
    assert reason and "\n" not in reason and len(reason) <= 300
    return info.value


def with_model(clock: FakeClock, model: ScriptedModel, **settings: Any) -> Validator:
    return make_validator(ScriptedHub(model), clock, **settings)


def test_a_good_model_is_accepted_and_pinned(validator: Validator, hub: ScriptedHub) -> None:
    valid = validate(validator, revision="v1", precision="bfloat16")
    model = hub.models[GOOD]
    assert valid.sha == model.revisions["v1"] and valid.revision == "v1"
    assert valid.spec == f"hf:{GOOD}@{model.revisions['v1']}"
    assert (valid.params, valid.license, valid.precision, valid.target) == (
        1_500_000_000,
        "apache-2.0",
        "bfloat16",
        TARGET,
    )


def test_revision_defaults_to_main_and_a_full_sha_is_accepted(validator: Validator, hub: ScriptedHub) -> None:
    sha = hub.models[GOOD].sha
    assert validate(validator).sha == sha
    assert validate(validator, revision=sha).sha == sha


# -- 1. well-formed input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("model", "", "empty"),
        ("model", "no-slash", "exactly one '/'"),
        ("model", "a/b/c", "exactly one '/'"),
        ("model", "../etc", "'..'"),
        ("model", "org/..", "'..'"),
        ("model", "org/name.", "start or end"),
        ("model", "-org/name", "start or end"),
        ("model", "org/na--me", "'--'"),
        ("model", "org/na me", "whitespace"),
        ("model", "org/name\x00", "NUL"),
        ("model", "org/na\u202eme", "invisible"),
        ("model", "https://huggingface.co/org/name", "not a URL"),
        ("model", "x" * 200 + "/y", "too long"),
        ("model", "org/" + "n" * 97, "longer than 96"),
        ("revision", "", "empty"),
        ("revision", "../main", "not a branch"),
        ("revision", "main\n", "control character"),
        ("revision", "r" * 129, "too long"),
        ("precision", "int3", "unknown precision"),
        ("submitter", None, "sign in"),
        ("submitter", "<script>", "not a valid Hugging Face user"),
    ],
)
def test_malformed_input_is_rejected_before_asking_the_hub(
    validator: Validator, hub: ScriptedHub, field: str, value: Any, fragment: str
) -> None:
    error = rejection(validator, **{field: value})
    assert error.check == "well_formed"
    assert fragment in error.reason
    assert hub.calls == []


def test_reasons_do_not_echo_hostile_input() -> None:
    reason = model_id_problem("org/<script>alert(1)</script>")
    assert reason is not None and "<script>" not in reason and "alert" not in reason


# -- 2. exists, public, readable --------------------------------------------------------


def test_unknown_model(clock: FakeClock) -> None:
    error = rejection(make_validator(ScriptedHub(), clock))
    assert (error.check, "was not found") == ("exists", "was not found") and "was not found" in error.reason


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"private": True}, "is private"),
        ({"disabled": True}, "disabled"),
        ({"gated": True, "readable": False}, "gated"),
    ],
)
def test_private_disabled_or_unreadable_gated_models_are_rejected(
    clock: FakeClock, changes: dict[str, Any], fragment: str
) -> None:
    error = rejection(with_model(clock, ScriptedHub.good(**changes)))
    assert error.check == "exists" and fragment in error.reason


def test_a_gated_model_our_token_can_read_is_accepted(clock: FakeClock) -> None:
    assert validate(with_model(clock, ScriptedHub.good(gated=True, readable=True))).model == GOOD


# -- 3. revision pinned -----------------------------------------------------------------


def test_unknown_revision(validator: Validator) -> None:
    error = rejection(validator, revision="no-such-branch")
    assert error.check == "revision" and "was not found" in error.reason


def test_a_revision_that_does_not_resolve_to_a_commit(clock: FakeClock) -> None:
    error = rejection(with_model(clock, ScriptedHub.good(revisions={"main": "not-a-sha"})))
    assert error.check == "revision" and "commit" in error.reason


# -- 4..8. weights, size, chat template, license, remote code ---------------------------


@pytest.mark.parametrize(
    ("changes", "check", "fragment"),
    [
        ({"files": ("config.json", "pytorch_model.bin", "tokenizer_config.json")}, "safetensors", "no safetensors"),
        ({"params": None}, "parameters", "parameter count"),
        ({"params": 200_000_000_000}, "parameters", "200.0B parameters"),
        ({"json_files": {"config.json": GOOD_CONFIG, "tokenizer_config.json": {}}}, "chat_template", "chat template"),
        ({"json_files": {"config.json": GOOD_CONFIG, "tokenizer_config.json": "{not json"}}, "chat_template", "chat"),
        ({"license": None}, "license", "no license"),
        ({"license": "  "}, "license", "no license"),
        ({"json_files": {"tokenizer_config.json": {"chat_template": "x"}}}, "remote_code", "config.json"),
        (
            {"json_files": {"config.json": {"architectures": ["X"]}, "tokenizer_config.json": {"chat_template": "x"}}},
            "remote_code",
            "model_type",
        ),
        (
            {
                "json_files": {
                    "config.json": {"model_type": "my_custom", "auto_map": {"AutoModelForCausalLM": "m.M"}},
                    "tokenizer_config.json": {"chat_template": "x"},
                }
            },
            "remote_code",
            "trust_remote_code=True",
        ),
        (
            {
                "json_files": {
                    "config.json": {"model_type": "unheard_of"},
                    "tokenizer_config.json": {"chat_template": "x"},
                }
            },
            "remote_code",
            "'unheard_of'",
        ),
    ],
)
def test_each_hub_check_rejects(clock: FakeClock, changes: dict[str, Any], check: str, fragment: str) -> None:
    error = rejection(with_model(clock, ScriptedHub.good(**changes)))
    assert error.check == check
    assert fragment in error.reason


def test_parameter_limit_is_configurable(clock: FakeClock) -> None:
    model = ScriptedHub.good(params=8_000_000_000)
    assert validate(with_model(clock, model)).params == 8_000_000_000
    error = rejection(with_model(clock, model, max_params=7_000_000_000))
    assert error.check == "parameters" and "above this leaderboard's limit of 7.0B" in error.reason


def test_a_separate_chat_template_file_counts(clock: FakeClock) -> None:
    model = ScriptedHub.good(
        files=("config.json", "model-00001-of-00002.safetensors", "chat_template.jinja"),
        json_files={"config.json": GOOD_CONFIG},
    )
    assert validate(with_model(clock, model)).model == GOOD


def test_a_list_of_named_chat_templates_counts(clock: FakeClock) -> None:
    tok = {"chat_template": [{"name": "default", "template": "{{ messages }}"}]}
    model = ScriptedHub.good(json_files={"config.json": GOOD_CONFIG, "tokenizer_config.json": tok})
    assert validate(with_model(clock, model)).model == GOOD


def test_custom_code_for_a_known_architecture_still_loads(clock: FakeClock) -> None:
    config = {"model_type": "llama", "auto_map": {"AutoConfig": "c.C"}}
    model = ScriptedHub.good(json_files={"config.json": config, "tokenizer_config.json": {"chat_template": "x"}})
    assert validate(with_model(clock, model)).model == GOOD


def test_checks_run_cheapest_first(clock: FakeClock) -> None:
    # Everything is wrong with this model; the first check in the order is reported.
    bad = ScriptedHub.good(private=True, files=("pytorch_model.bin",), license=None, params=None)
    assert rejection(with_model(clock, bad)).check == "exists"
    bad = replace(bad, private=False)
    assert rejection(with_model(clock, bad)).check == "safetensors"
    assert list(CHECKS) == [
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
    ]


# -- 9. duplicates; 10. rate limit --------------------------------------------------------


def _record(clock: FakeClock, hub: ScriptedHub, status: Status, **changes: Any) -> RequestRecord:
    sha = hub.models[GOOD].sha
    base = {
        "id": f"r-{status.value.lower()}-{len(changes)}",
        "model": GOOD,
        "model_type": "open-weight",
        "spec": f"hf:{GOOD}@{sha}",
        "sha": sha,
        "submitter": "someone",
        "set_name": TARGET.name,
        "set_version": TARGET.version,
        "status": status,
        "submitted_at": clock(),
        "updated_at": clock(),
    }
    base.update(changes)
    return RequestRecord.model_validate(base)


@pytest.mark.parametrize("status", [Status.PENDING, Status.RUNNING, Status.FINISHED])
def test_duplicate_of_a_pending_running_or_finished_request(
    validator: Validator, hub: ScriptedHub, clock: FakeClock, status: Status
) -> None:
    error = rejection(validator, existing=[_record(clock, hub, status)])
    assert error.check == "duplicate" and "set heldout@v1" in error.reason


@pytest.mark.parametrize(
    "changes",
    [
        {"status": Status.FAILED},
        {"status": Status.CANCELLED},
        {"set_version": "v0"},
        {"sha": "0" * 40},
    ],
)
def test_not_a_duplicate(validator: Validator, hub: ScriptedHub, clock: FakeClock, changes: dict[str, Any]) -> None:
    status = changes.pop("status", Status.FINISHED)
    assert validate(validator, existing=[_record(clock, hub, status, **changes)]).model == GOOD


def test_duplicate_check_ignores_model_id_case(validator: Validator, hub: ScriptedHub, clock: FakeClock) -> None:
    error = rejection(validator, model=GOOD.upper(), existing=[_record(clock, hub, Status.PENDING)])
    assert error.check == "duplicate"


def _mine(clock: FakeClock, n: int, user: str = "alice", age_days: float = 1) -> list[RequestRecord]:
    return [
        RequestRecord.model_validate(
            {
                "id": f"old-{user}-{i}",
                "model": f"org/other-{i}",
                "model_type": "open-weight",
                "spec": f"hf:org/other-{i}@{'0' * 40}",
                "sha": "0" * 40,
                "submitter": user,
                "status": "FAILED",
                "submitted_at": clock() - timedelta(days=age_days),
                "updated_at": clock(),
            }
        )
        for i in range(n)
    ]


def test_rate_limit(validator: Validator, clock: FakeClock) -> None:
    assert validate(validator, existing=_mine(clock, 4)).model == GOOD
    error = rejection(validator, existing=_mine(clock, 5))
    assert (
        error.check == "rate_limit" and "limit 5" in error.reason and "try again after 2025-03-07 12:00" in error.reason
    )
    # Other users' requests and requests older than the window do not count; names ignore case.
    assert validate(validator, existing=_mine(clock, 5, user="bob")).model == GOOD
    assert validate(validator, existing=_mine(clock, 5, age_days=8)).model == GOOD
    assert rejection(validator, submitter="ALICE", existing=_mine(clock, 5)).check == "rate_limit"


def test_maintainers_are_exempt_from_the_rate_limit(validator: Validator, clock: FakeClock) -> None:
    assert validate(validator, maintainer=True, existing=_mine(clock, 9)).model == GOOD


def test_rate_limit_is_configurable(clock: FakeClock, hub: ScriptedHub) -> None:
    strict = make_validator(hub, clock, rate_limit=1, rate_window=timedelta(days=1))
    assert rejection(strict, existing=_mine(clock, 1, age_days=0.5)).check == "rate_limit"
    assert validate(strict, existing=_mine(clock, 1, age_days=2)).model == GOOD


# -- the Hub out of reach -------------------------------------------------------------------


def test_scripted_unreachable_hub(clock: FakeClock) -> None:
    with pytest.raises(HubUnavailable, match="cannot reach the Hugging Face Hub"):
        validate(make_validator(ScriptedHub(ScriptedHub.good(), unavailable=True), clock))


@pytest.mark.parametrize(
    "env",
    [
        {"HF_HUB_OFFLINE": "1"},
        # Nothing listens on port 9 here: a refused connection, as with no network at all.
        {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"},
    ],
)
def test_the_real_client_fails_fast_offline(tmp_path: Path, env: dict[str, str]) -> None:
    code = (
        "import time\n"
        "from submissions.hub import HfHubClient\n"
        "from submissions.errors import HubUnavailable\n"
        "start = time.monotonic()\n"
        "try:\n"
        "    HfHubClient().model_info('org/name', None)\n"
        "except HubUnavailable as exc:\n"
        "    print(exc)\n"
        "print(round(time.monotonic() - start, 1))\n"
    )
    full_env = {**os.environ, "HF_HOME": str(tmp_path), **env}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=60, check=True
    )
    lines = out.stdout.splitlines()
    assert lines[0].startswith("cannot reach the Hugging Face Hub")
    assert float(lines[1]) < 15


def test_a_rejected_submission_writes_nothing(data: DataDir, clock: FakeClock, queue: Queue) -> None:
    # Rejections at every stage, through the same entry point the Space and the CLI use.
    data.root.mkdir(parents=True)
    before = snapshot(data.root)
    cases: list[tuple[ScriptedModel, dict[str, Any]]] = [
        (ScriptedHub.good(), {"model": "bad id"}),
        (ScriptedHub.good(private=True), {}),
        (ScriptedHub.good(license=None), {}),
        (ScriptedHub.good(), {"revision": "nope"}),
    ]
    for hub_model, changes in cases:
        kwargs: dict[str, Any] = {"model": GOOD, "submitter": "alice", **changes}
        with pytest.raises(SubmissionRejected):
            submit(queue, with_model(clock, hub_model), **kwargs)
    assert snapshot(data.root) == before


def test_base_url_rules() -> None:
    assert base_url_problem("https://api.example.com/v1") is None
    assert base_url_problem("http://localhost:8000/v1") is None
    for bad, fragment in [
        ("https://user:sk-secret@api.example.com/v1", "credentials"),
        ("https://api.example.com/v1?api_key=sk-1", "query"),
        ("ftp://api.example.com", "https://"),
        ("https://", "host"),
        ("javascript:alert(1)", "'('"),
        ("javascript:void", "https://"),
        ("https://api..example.com/v1", "host"),
        ("https://api.example.com/v1/../x", "path"),
        ("https://api.example.com/\u202ev1", "invisible"),
        ("", "base URL"),
    ]:
        problem = base_url_problem(bad)
        assert problem is not None and fragment in problem, (bad, problem)
        assert "sk-" not in problem
