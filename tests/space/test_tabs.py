"""Submit and queue tabs' logic, without a browser: reasons shown, positions, groups."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluator.storage import DataDir
from space.tabs import GROUPS, SubmitOptions, do_submit, queue_tables
from submissions import Queue
from tests.space.conftest import (
    FAILURE_REASON,
    GOOD_MODEL,
    SETTINGS,
    event_index,
    raw_call,
    seed_queue,
    serving,
    submit_options,
)
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


def test_the_submit_tab_says_what_happens_and_what_is_left(data: DataDir) -> None:
    from space.tabs import what_happens

    seed_queue(data)
    text = what_happens(data, SETTINGS, "alice").replace("\\", "")
    assert "public-sample" in text and "heuristic" in text and "unofficial" in text
    assert "Expected wait: unknown yet (1 ahead" in text  # the running request; no finished run yet
    assert "1000 of 1000 submissions left for alice" in text
    do_submit(data, submit_options(), model=GOOD_MODEL, revision="main", precision="auto", submitter="alice")
    assert "999 of 1000 submissions left for alice" in what_happens(data, SETTINGS, "alice")


def test_pending_rows_carry_ids_submitters_and_an_eta_from_recent_runs(data: DataDir) -> None:
    from space.tabs import recent_run_s
    from submissions import enqueue
    from submissions.target import current_set

    queue = Queue.local(data, SETTINGS)
    enqueue(queue, spec="baseline:refusal", submitter="maintainer", target=current_set(data), maintainer=True)
    lease = queue.claim("worker-1")
    assert lease is not None
    queue.finish(lease, "run-1")
    assert recent_run_s(queue.records()) is not None
    do_submit(data, submit_options(), model=GOOD_MODEL, revision="main", precision="auto", submitter="alice")
    summary, tables = queue_tables(queue)
    pending = dict(zip((g for g, _ in GROUPS), tables, strict=True))["Pending"]
    row = pending.iloc[0]
    assert row["Submitter"] == "alice" and row["Request"].strip() and row["Set"].startswith("public-sample")
    assert row["Judge"] == "heuristic" and row["Position"] == "1"
    assert row["ETA"] == "~1 min" and "a run takes ~1 min lately" in summary
    assert "(every 10 s)" in summary


def signed_session(secret: str, username: str) -> str:
    """The session cookie Gradio's OAuth callback sets for a signed-in user: Starlette's
    SessionMiddleware format, signed with the key Gradio derives from the OAuth secret."""
    import base64
    import hashlib
    import time

    from itsdangerous import TimestampSigner

    user = {
        "preferred_username": username,
        "name": username,
        "profile": f"https://huggingface.co/{username}",
        "picture": "",
    }
    info = {"userinfo": user, "expires_at": time.time() + 600}
    payload = base64.b64encode(json.dumps({"oauth_info": info}).encode())
    key = hashlib.sha256((secret + "-v4").encode()).hexdigest()
    return TimestampSigner(key).sign(payload).decode()


# On a Space, Gradio also starts the Hub's hot-reload watcher, which needs the `spaces` package
# a Space has and this machine lacks: its thread stops with an error that concerns nothing here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_on_a_space_opening_the_submit_tab_shows_what_is_left_for_the_signed_in_user(
    data: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gradio.oauth

    # A Space's OAuth settings, as the Hub sets them; the provider is never called here.
    monkeypatch.setenv("SYSTEM", "spaces")
    monkeypatch.setenv("SPACE_ID", "crisis-maintainers/leaderboard-test")
    secret = "oauth-secret-for-this-test"
    for name, value in (
        ("OAUTH_CLIENT_ID", "test-client"),
        ("OAUTH_CLIENT_SECRET", secret),
        ("OAUTH_SCOPES", "openid profile"),
        ("OPENID_PROVIDER_URL", "http://127.0.0.1:9"),
    ):
        monkeypatch.setattr(gradio.oauth, name, value)
    seed_queue(data)
    do_submit(data, submit_options(), model=GOOD_MODEL, revision="main", precision="auto", submitter="alice")
    with serving(data, enable_login=True) as app:
        config = app.demo.get_config_file()
        page = json.dumps(config, default=str)
        assert "submit-user" not in page  # on a Space the name comes from the sign-in
        assert "left for" not in page  # built before anyone signed in
        opened = event_index(app.url, "info_signed_in")
        tab = next(c["id"] for c in config["components"] if c.get("props", {}).get("label") == "Submit")
        assert [tab, "select"] in [list(t) for t in config["dependencies"][opened]["targets"]]
        # The Submit tab opened by alice, signed in: Gradio injects her profile.
        cookies = {"session": signed_session(secret, "alice")}
        text = raw_call(app.url, opened, [], cookies=cookies)["output"]["data"][0].replace("\\", "")
        assert "999 of 1000 submissions left for alice" in text and "Expected wait" in text
        assert "2 ahead" in text  # the running request and alice's, as the queue is now
        anonymous = raw_call(app.url, opened, [])["output"]["data"][0]
        assert "submissions per user" in anonymous and "left for" not in anonymous


def test_the_request_line_follows_one_request_through_the_queue(data: DataDir) -> None:
    from space.tabs import request_status

    seed_queue(data)
    do_submit(data, submit_options(), model=GOOD_MODEL, revision="main", precision="auto", submitter="alice")
    queue = Queue.local(data, SETTINGS)
    records = queue.records()
    by_status = {r.status.value: r for r in records}
    pending = request_status(queue, records, by_status["PENDING"].id).replace("\\", "")
    assert by_status["PENDING"].id in pending and GOOD_MODEL in pending and "pending, position **1**" in pending
    failed = request_status(queue, records, by_status["FAILED"].id)
    assert "failed: " in failed and "<img" not in failed  # the reason, as escaped text
    assert "running for" in request_status(queue, records, by_status["RUNNING"].id)
    assert request_status(queue, records, "../../etc/passwd") == request_status(queue, records, "") == ""
