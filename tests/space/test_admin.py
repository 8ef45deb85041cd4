"""The maintainers' panel: a non-maintainer can neither see nor call it; a maintainer's
actions work and are logged with who and when.

The handlers are called directly (the server-side check is what protects them), through a
served app with gradio_client and raw HTTP posts to Gradio's queue (what an attacker would
use), and once in a browser.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import gradio as gr
import httpx
import pytest
from gradio_client import Client

from evaluator.audit import read_admin_log
from evaluator.protocol.taxonomy import CATEGORIES
from evaluator.sets import add_items, list_versions, retire_items
from evaluator.storage import DataDir, atomic_write_json
from leaderboard.hidden import hidden_path, read_hidden
from leaderboard.query import Filters, Leaderboard
from leaderboard.store import ResultStore
from space.admin import TOKEN_ENV, AdminAccess, HubMembership
from space.admin_panel import DENIED, AdminActions
from space.app import build_app
from space.formatting import hidden_note
from submissions import Queue, RequestRecord, Status, current_set, request_api_model
from submissions.ratelimit import RateLimit
from submissions.records import new_request_id
from tests.space.conftest import SETTINGS, raw_call, seed_queue, serving
from tests.support.browser import CHROMIUM, loopback_context
from tests.support.results_factory import write_demo_board

TOKEN = "correct horse battery staple"
ENV = {TOKEN_ENV: TOKEN}
ORG = "crisis-maintainers"
SECRET_ITEM = "held-SECRET-0042"  # an id only the audit report names
HOSTILE = '<img src=x onerror="alert(7)">'
ACTIONS = ("refresh", "approve", "reject", "retry", "cancel", "hide", "unhide", "cut", "audit")


# ---------------------------------------------------------------------------------------
# Data


def request_api(data: DataDir, model: str) -> RequestRecord:
    queue = Queue.local(data, SETTINGS)
    return request_api_model(
        queue,
        model=model,
        base_url="https://api.example.com/v1",
        submitter="requester",
        target=current_set(data),
        rate_limit=RateLimit(limit=1000),
    )


def plant_audit_report(data: DataDir) -> None:
    finding = {"path": "results/x.parquet", "set_name": "held", "item_id": SECRET_ITEM, "kind": "copy"}
    report = {"created_at": "2025-05-01T10:00:00+00:00", "clean": False, "files": 3, "private_items": 9}
    atomic_write_json(
        data.logs / "audit" / "audit-20250501T100000Z.json",
        report | {"findings": [finding | {"where": "line 1", "shared": 1}]},
    )


def balanced_items(path: Path, per_category: int = 30) -> Path:
    rng = random.Random(0)
    words = [
        "garden",
        "window",
        "kitchen",
        "river",
        "letter",
        "coffee",
        "weekend",
        "station",
        "market",
        "library",
        "notebook",
        "autumn",
    ]
    lines = []
    for category in CATEGORIES:
        for k in range(per_category):
            text = " ".join(rng.choice(words) for _ in range(14))
            lines.append(
                json.dumps(
                    {
                        "id": f"{category[:5]}-{k:03d}",
                        "category": category,
                        "signal": ("explicit", "indirect", "ambiguous")[k % 3],
                        "turns": [{"role": "user", "content": text}],
                    }
                )
            )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    """The demo board, a failed and a running request, two API models awaiting approval."""
    data = DataDir.at(tmp_path / "var")
    write_demo_board(data)
    seed_queue(data)
    request_api(data, "vendor/chat-large")
    request_api(data, "vendor/chat-small")
    plant_audit_report(data)
    return data


def state(data: DataDir) -> dict[str, Any]:
    """Everything an admin action could change, byte for byte."""
    files = sorted(p for area in (data.requests, data.public, data.sets) if area.exists() for p in area.rglob("*"))
    return {
        "files": {str(p): p.read_bytes() for p in files if p.is_file()},
        # Failed token attempts are logged (issue 10.5); no other line may appear.
        "log": [r for r in read_admin_log(data) if r["action"] != "admin_token_failed"],
    }


def by_model(data: DataDir) -> dict[str, RequestRecord]:
    return {r.model: r for r in Queue.local(data, SETTINGS).records()}


def first_with(data: DataDir, status: Status) -> RequestRecord:
    return next(r for r in Queue.local(data, SETTINGS).records() if r.status == status)


def message_of(result: tuple[Any, ...]) -> str:
    return str(result[1])


# ---------------------------------------------------------------------------------------
# (b) the handlers themselves refuse a caller who is not a maintainer


class FakeMembership:
    """Organisation membership without the Hub: members by user name."""

    def __init__(self, members: set[str], broken: bool = False) -> None:
        self.members = members
        self.broken = broken
        self.asked: list[str] = []

    def __call__(self, org: str, profile: gr.OAuthProfile | None, token: gr.OAuthToken | None) -> bool:
        if self.broken:
            raise RuntimeError("the Hub is down")
        assert profile is not None
        self.asked.append(org)
        return org == ORG and profile.username in self.members


def profile_of(username: str) -> gr.OAuthProfile:
    return gr.OAuthProfile({"preferred_username": username, "name": username, "profile": "", "picture": ""})


def arguments(data: DataDir, action: str) -> tuple[str, str]:
    """A target and text each action would accept from a maintainer."""
    records = by_model(data)
    return {
        "approve": (records["vendor/chat-large"].id, ""),
        "reject": (records["vendor/chat-small"].id, "not an API we can reach"),
        "retry": (first_with(data, Status.FAILED).id, ""),
        "cancel": (first_with(data, Status.RUNNING).id, "stuck"),
        "hide": ("acme/mid-70b", "contaminated"),
        "unhide": ("acme/mid-70b", ""),
        "cut": ("held", ""),
    }.get(action, ("", ""))


@pytest.mark.parametrize(
    ("access", "secret", "profile"),
    [
        (AdminAccess(env=ENV), None, None),
        (AdminAccess(env=ENV), "", None),
        (AdminAccess(env=ENV), "wrong", None),
        (AdminAccess(env=ENV), TOKEN + " ", None),
        (AdminAccess(env={}), "", None),  # no token configured: nobody, not "empty matches empty"
        (AdminAccess(env=ENV), None, profile_of("maria")),  # locally a profile is no credential
        # On a Space the token opens nothing, and only members of the organisation get in.
        (AdminAccess(on_space=True, org=ORG, membership=FakeMembership({"maria"}), env=ENV), TOKEN, None),
        (AdminAccess(on_space=True, org=ORG, membership=FakeMembership({"maria"})), None, profile_of("eve")),
        (AdminAccess(on_space=True, org=None, membership=FakeMembership({"maria"})), None, profile_of("maria")),
        (AdminAccess(on_space=True, org=ORG, membership=FakeMembership({"maria"}, True)), None, profile_of("maria")),
    ],
    ids=[
        "no-token",
        "empty-token",
        "wrong-token",
        "token-plus-space",
        "none-configured",
        "profile-locally",
        "token-on-space",
        "not-a-member",
        "no-org-configured",
        "membership-check-fails",
    ],
)
def test_a_non_maintainer_calling_the_handlers_changes_nothing(
    data: DataDir, tmp_path: Path, access: AdminAccess, secret: str | None, profile: gr.OAuthProfile | None
) -> None:
    add_items(data, "held", balanced_items(tmp_path / "items.jsonl"), who="setup")
    before = state(data)
    actions = AdminActions(data, access, SETTINGS)
    for name, handler in actions.handlers().items():
        target, text = arguments(data, name)
        result = handler(target, text, secret, "eve", profile, None)
        assert message_of(result) == DENIED, name
        assert result[0] == "" and all(not isinstance(v, str) or v in ("", DENIED) for v in result), name
    opened = actions.sign_in(secret, "eve", profile, None)
    assert opened[0].visible is False
    assert state(data) == before  # no record, hidden model, set version or log line changed
    assert list_versions(data, "held") == [] and not hidden_path(data).exists()


def test_a_member_of_the_organisation_gets_in_on_a_space(data: DataDir) -> None:
    membership = FakeMembership({"maria"})
    access = AdminAccess(on_space=True, org=ORG, membership=membership)
    actions = AdminActions(data, access, SETTINGS)
    opened = actions.sign_in(None, None, profile_of("maria"), None)
    assert opened[0].visible is True and r"hf\:maria" in opened[3]  # escaped Markdown
    request = by_model(data)["vendor/chat-large"]
    actions.handlers()["approve"](request.id, "", None, None, profile_of("maria"), None)
    assert by_model(data)["vendor/chat-large"].status == Status.PENDING
    assert read_admin_log(data)[-1]["who"] == "hf:maria"
    assert membership.asked == [ORG, ORG]  # asked on every call, not remembered from the sign-in


def test_on_a_space_the_page_offers_no_token_box_and_signs_in_on_load(data: DataDir) -> None:
    access = AdminAccess(on_space=True, org=ORG, membership=FakeMembership({"maria"}), env=ENV)
    demo = build_app(data, enable_login=False, admin=access)
    config = json.dumps(demo.get_config_file(), default=str)
    assert "admin-token" not in config and "admin-sign-in" not in config
    loads = [fn for fn in demo.fns.values() if fn.api_name == "admin_sign_in"]
    assert len(loads) == 1 and loads[0].api_visibility == "private"
    assert any(target[1] == "load" for target in loads[0].targets)


# ---------------------------------------------------------------------------------------
# (c) a maintainer's actions work and are logged


def test_maintainer_actions_work_and_are_logged_with_who_and_when(data: DataDir, tmp_path: Path) -> None:
    actions = AdminActions(data, AdminAccess(env=ENV), SETTINGS)
    run = actions.handlers()
    started = datetime.now(UTC) - timedelta(seconds=5)

    def act(name: str, target: str, text: str = "") -> str:
        result = run[name](target, text, TOKEN, "alice", None, None)
        assert r"alice \(admin token\)" in result[0]  # the header, as escaped Markdown
        return message_of(result)

    opened = actions.sign_in(TOKEN, "alice", None, None)
    assert opened[0].visible is True
    assert SECRET_ITEM in opened[3 + 9].to_csv()  # the audit findings, for maintainers only
    records = by_model(data)
    failed, running = first_with(data, Status.FAILED), first_with(data, Status.RUNNING)

    assert act("approve", records["vendor/chat-large"].id).startswith("✅ Approved")
    assert act("reject", records["vendor/chat-small"].id).startswith("❌ A rejection needs a reason")
    assert act("reject", records["vendor/chat-small"].id, "no <b>endpoint</b>").startswith("✅ Rejected")
    assert act("retry", failed.id).startswith("✅ Re-run")
    assert act("cancel", running.id, "stuck").startswith("✅ Cancelled")
    assert "not waiting for approval" in act("approve", records["vendor/chat-large"].id)  # a second time
    now = by_model(data)
    assert now["vendor/chat-large"].status == Status.PENDING
    assert (now["vendor/chat-small"].status, now["vendor/chat-small"].reason) == (
        Status.REJECTED,
        "no <b>endpoint</b>",
    )
    assert Queue.local(data, SETTINGS).get(failed.id).status == Status.PENDING
    assert Queue.local(data, SETTINGS).get(running.id).status == Status.CANCELLED

    # Hide a model with a hostile reason: gone from the board and the API, the reason shown as text.
    message = act("hide", "acme/mid-70b", f"contaminated {HOSTILE}")
    assert message.startswith("✅ Hidden") and "<img" not in message
    board = Leaderboard(ResultStore(data))
    assert "acme/mid-70b" not in set(board.query(Filters(limit=0)).rows["model"])
    note = hidden_note(board.snapshot().hidden)
    assert "acme/mid" in note and "&lt;img" in note and "<img" not in note
    assert act("unhide", "acme/mid-70b").startswith("✅")
    assert read_hidden(data) == {}

    # Cutting a set version: refused with what is missing, as text; then cut.
    add_items(data, "tiny", balanced_items(tmp_path / "tiny.jsonl", per_category=2), who="setup")
    refusal = act("cut", "tiny")
    assert refusal.startswith("❌ **Not cut:** cannot freeze tiny") and "needs 30" in refusal
    add_items(data, "held", balanced_items(tmp_path / "held.jsonl"), who="setup")
    assert act("cut", "held").startswith("✅ Cut held v0001: 210 items")
    assert list_versions(data, "held") == ["v0001"]
    assert "nothing to freeze" in act("cut", "held")

    assert act("audit", "").startswith("Audit done")

    logged = [r for r in read_admin_log(data) if r["who"] != "setup"]
    assert [r["action"] for r in logged] == [
        "queue.approve",
        "queue.reject",
        "queue.retry",
        "queue.cancel",
        "leaderboard.hide",
        "leaderboard.unhide",
        "sets.freeze",
        "audit.run",
    ]
    assert {r["who"] for r in logged} == {"alice (admin token)"}
    assert all(started <= datetime.fromisoformat(r["at"]) <= datetime.now(UTC) for r in logged)
    assert logged[0]["detail"]["request"] == records["vendor/chat-large"].id
    assert logged[4]["detail"] == {"model": "acme/mid-70b", "reason": f"contaminated {HOSTILE}"}
    # The panel lists the log, newest first, as plain text.
    log_view = run["refresh"]("", "", TOKEN, "alice", None, None)[11]
    assert log_view.iloc[0]["Action"] == "audit.run" and "alice (admin token)" in set(log_view["Who"])


def test_a_cut_queues_again_the_models_finished_on_the_version_before(data: DataDir, tmp_path: Path) -> None:
    run = AdminActions(data, AdminAccess(env=ENV), SETTINGS).handlers()

    def cut() -> str:
        return message_of(run["cut"]("held", "", TOKEN, "alice", None, None))

    add_items(data, "held", balanced_items(tmp_path / "held.jsonl"), who="setup")
    assert "Re-evaluation" not in cut()  # the first version: nothing was evaluated before it
    at = datetime.now(UTC)
    finished = RequestRecord(
        id=new_request_id(at),
        model="baseline:refusal",
        model_type="baseline",
        spec="baseline:refusal",
        submitter="someone",
        set_name="held",
        set_version="v0001",
        status=Status.FINISHED,
        submitted_at=at,
        updated_at=at,
        finished_at=at,
    )
    Queue.local(data, SETTINGS).store.create(finished)
    retire_items(data, "held", category="no_crisis", count=1, seed=0, who="setup")
    message = cut()
    assert message.startswith("✅ Cut held v0002") and "Re-evaluation queued for 1 models" in message
    runs = [r for r in Queue.local(data, SETTINGS).records() if r.set_name == "held"]
    assert sorted((r.set_version, r.status) for r in runs) == [("v0001", Status.FINISHED), ("v0002", Status.PENDING)]


# ---------------------------------------------------------------------------------------
# (a) served: no admin endpoint in the API, and none callable without the token


@pytest.fixture(scope="module")
def admin_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, DataDir, gr.Blocks]]:
    data = DataDir.at(Path(tmp_path_factory.mktemp("admin")) / "var")
    write_demo_board(data)
    seed_queue(data)
    request_api(data, "vendor/chat-large")
    request_api(data, "vendor/browser-approved")
    plant_audit_report(data)
    with serving(data, admin=AdminAccess(env=ENV)) as app:
        yield app.url, data, app.demo


def admin_indices(demo: gr.Blocks) -> dict[str, int]:
    found = {fn.api_name: i for i, fn in demo.fns.items() if str(fn.api_name).startswith("admin_")}
    assert {f"admin_{a}" for a in ACTIONS} | {"admin_sign_in"} <= set(found)
    assert all(demo.fns[i].api_visibility == "private" for i in found.values())
    return found


def test_the_api_lists_no_admin_endpoint_and_refuses_admin_calls(
    admin_served: tuple[str, DataDir, gr.Blocks],
) -> None:
    url, data, demo = admin_served
    client = Client(url, verbose=False, download_files=False)
    api = client.view_api(return_format="dict", print_info=False)
    assert isinstance(api, dict) and list(api["named_endpoints"]) == ["/leaderboard"] and not api["unnamed_endpoints"]
    everything = httpx.get(url + "gradio_api/info", params={"all_endpoints": "true"}, timeout=10).text
    assert "admin" not in everything
    indices = admin_indices(demo)
    request = by_model(data)["vendor/chat-large"]
    for name, index in indices.items():
        with pytest.raises(ValueError, match="Cannot find a function"):
            client.predict(request.id, "", TOKEN, "eve", api_name=f"/{name}")
        with pytest.raises(ValueError, match="Invalid function index"):
            client.predict(request.id, "", TOKEN, "eve", fn_index=index)
    # The page a visitor downloads holds the empty panel, none of its private content.
    config = httpx.get(url + "config", timeout=10).text
    assert SECRET_ITEM not in config and '"visible":false' in config.replace(" ", "")


def test_raw_queue_calls_without_the_token_change_nothing(admin_served: tuple[str, DataDir, gr.Blocks]) -> None:
    url, data, demo = admin_served
    before = state(data)
    request = by_model(data)["vendor/chat-large"]
    indices = admin_indices(demo)
    for name in ("approve", "reject", "hide", "refresh"):
        output = raw_call(url, indices[f"admin_{name}"], [request.id, "no reason", "not the token", "eve"])["output"]
        assert output["data"][1] == DENIED and SECRET_ITEM not in json.dumps(output)
    opened = raw_call(url, indices["admin_sign_in"], ["not the token", "eve"])["output"]
    assert SECRET_ITEM not in json.dumps(opened)
    assert state(data) == before
    # The same raw call with the token is a maintainer's: the check is the credential, not the client.
    granted = raw_call(url, indices["admin_approve"], [request.id, "", TOKEN, "ops"])["output"]
    assert granted["data"][1].startswith("✅ Approved")
    assert read_admin_log(data)[-1]["who"] == "ops (admin token)"


# ---------------------------------------------------------------------------------------
# The page: hidden without the token, shown with it, and an approval updates the queue


def wait_for(check: Any, what: str, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # an element re-rendering mid-read: look again
            pass
        time.sleep(0.15)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_the_admin_tab_appears_only_with_the_token_and_approves(
    admin_served: tuple[str, DataDir, gr.Blocks], browser: Any
) -> None:
    url, data, _ = admin_served
    request = by_model(data)["vendor/browser-approved"]
    context = loopback_context(browser)
    try:
        page = context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url)
        tab_buttons = page.locator("button[role=tab]")
        wait_for(lambda: "Leaderboard" in tab_buttons.all_inner_texts(), "the tabs")
        assert "Admin" not in tab_buttons.all_inner_texts()
        assert page.locator("#admin-requests").count() == 0 or not page.locator("#admin-requests").is_visible()

        page.locator("#admin-sign-in").get_by_text("Maintainers").click()
        page.locator("#admin-token input").fill("not the token")
        page.locator("#admin-unlock").click()
        message = page.locator("#admin-sign-in-message")
        wait_for(lambda: "not the admin token" in message.inner_text(), "the refusal")
        assert "Admin" not in tab_buttons.all_inner_texts()

        page.locator("#admin-token input").fill(TOKEN)
        page.locator("#admin-unlock").click()
        wait_for(lambda: "Admin" in tab_buttons.all_inner_texts(), "the admin tab")
        header = page.locator("#admin-header")
        wait_for(lambda: "admin token" in header.inner_text(), "the panel's header")
        rows = page.locator("#admin-requests [role=row]")
        wait_for(lambda: any(request.id in r for r in rows.all_inner_texts()), "the request in the panel")

        page.locator("#admin-request input[role=combobox]").fill(request.id)
        page.locator("#admin-request input[role=combobox]").press("Enter")
        page.locator("#admin-approve").click()
        result = page.locator("#admin-message")
        wait_for(lambda: "Approved" in result.inner_text(), "the approval message")
        assert "vendor/browser-approved" in result.inner_text()
        wait_for(
            lambda: any(request.id in r and "PENDING" in r and "APPROVAL" not in r for r in rows.all_inner_texts()),
            "the request shown as PENDING in the panel",
        )
        page.screenshot(path=str(artifacts() / "admin-approved.png"), full_page=True)

        page.locator("button[role=tab]", has_text="Queue").click()
        pending = page.locator("#queue-pending")
        wait_for(lambda: "vendor/browser-approved" in pending.inner_text(), "the approved model in the queue")
        assert by_model(data)["vendor/browser-approved"].status == Status.PENDING
        assert dialogs == []
    finally:
        context.close()


def artifacts() -> Path:
    folder = Path(__file__).resolve().parents[2] / "test-artifacts"
    folder.mkdir(exist_ok=True)
    return folder


def test_the_profile_fallback_accepts_the_organisation_handle_only() -> None:
    """Issue 18.9: without an OAuth token the sign-in profile's `orgs` claim is used; an
    organisation's display `name` is free text anyone's org can copy, so only its handle
    (`preferred_username`) counts."""
    membership = HubMembership()

    def profile(orgs: list[dict[str, str]]) -> gr.OAuthProfile:
        return gr.OAuthProfile({"preferred_username": "eve", "name": "Eve", "profile": "", "picture": "", "orgs": orgs})

    impostor = [{"sub": "1", "name": ORG, "preferred_username": "eves-own-org"}]
    assert membership(ORG, profile(impostor), None) is False
    member = [{"sub": "2", "name": "Crisis Maintainers (display name)", "preferred_username": ORG}]
    assert membership(ORG, profile(member), None) is True
