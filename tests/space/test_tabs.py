"""Submit and queue tabs' logic, without a browser: reasons shown, positions, groups."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluator.storage import DataDir
from space.tabs import GROUPS, SubmitOptions, do_submit, queue_tables
from submissions import Queue
from tests.space.conftest import FAILURE_REASON, GOOD_MODEL, SETTINGS, seed_queue, submit_options
from tests.support.hub import ScriptedHub


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    return DataDir.at(tmp_path / "var")


def test_a_good_model_is_queued_with_its_position(data: DataDir) -> None:
    seed_queue(data)
    message, details = do_submit(
        data, submit_options(), model=GOOD_MODEL, revision="main", precision="auto", submitter="alice"
    )
    assert message.startswith("✅") and "position **1**" in message
    fields = dict(zip(details["Field"], details["Value"], strict=True))
    assert fields["model"] == GOOD_MODEL and fields["status"] == "PENDING" and len(fields["commit"]) == 40
    again, _ = do_submit(data, submit_options(), model=GOOD_MODEL, revision="main", precision="auto", submitter="bob")
    assert again.startswith("❌") and "queued" in again  # the duplicate check's one line


@pytest.mark.parametrize(
    ("model", "fragment"),
    [
        ("nobody/missing", "was not found on the Hugging Face Hub"),
        ("not a model id", "Not submitted"),
        ("", "Not submitted"),
    ],
)
def test_each_failure_is_its_one_line_reason(data: DataDir, model: str, fragment: str) -> None:
    message, details = do_submit(
        data, submit_options(), model=model, revision="main", precision="auto", submitter="alice"
    )
    assert message.startswith("❌") and fragment in message.replace("\\", "")
    assert "\n" not in message and details.empty


def test_hub_outages_are_reported_not_raised(data: DataDir) -> None:
    options = SubmitOptions(hub=ScriptedHub(unavailable=True), settings=SETTINGS, known_model_types=lambda: None)
    message, _ = do_submit(data, options, model=GOOD_MODEL, revision="main", precision="auto", submitter="a")
    assert "try again later" in message


def test_queue_groups_show_positions_progress_and_failure_reasons(data: DataDir) -> None:
    seed_queue(data)
    do_submit(data, submit_options(), model=GOOD_MODEL, revision="main", precision="auto", submitter="alice")
    summary, tables = queue_tables(Queue.local(data, SETTINGS))
    by_group = dict(zip((g for g, _ in GROUPS), tables, strict=True))
    assert "pending 1" in summary and "failed 1" in summary and "running 1" in summary
    assert by_group["Pending"]["Position"].tolist() == ["1"]
    assert by_group["Running"]["Progress"].iloc[0].startswith("running ")
    reason = by_group["Failed"]["Reason"].iloc[0]
    assert reason == FAILURE_REASON  # shown whole, as text (the table cell is not HTML)
    assert by_group["Finished"].columns.tolist() == [""]  # an explicit "none" row, not an empty grid
