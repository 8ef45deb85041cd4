"""The maintainers' panel: API-model approvals, re-runs and cancellations, hiding a model,
cutting a set version, and the audit and calibration reports.

Every handler checks the caller first (space.admin) and changes nothing when refused. Every
admin event is private (absent from the API schema and refused by gradio_client).
Everything that changes state is appended to the private admin log with who and when. The
panel's components start empty and are filled only by a checked call, so the page config a
visitor downloads holds no private data (the audit findings name private item ids).

Untrusted strings (model names, reasons, error messages) reach the page as escaped Markdown
or plain-text table cells, never as HTML.

No `from __future__ import annotations` here: Gradio reads the OAuth parameters' types at
run time to know it should inject the signed-in user.
"""

import contextlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import gradio as gr
import pandas as pd

from evaluator.audit import audit, latest_audit_report, log_admin_action, read_admin_log, save_audit_report
from evaluator.calibration import calibration_reports
from evaluator.catalog import list_versions, set_names, set_root
from evaluator.items import ItemSetError
from evaluator.storage import DataDir, Store, StoreError, as_store, data_of
from evaluator.wording import num, pct
from leaderboard.hidden import HiddenError, hide_model, read_hidden, unhide_model
from leaderboard.links import markdown_text, plain_text
from leaderboard.store import ResultStore
from space.admin import AdminAccess, Maintainer, TokenGuard, client_of
from submissions import Queue, RequestRecord, Settings, Status, SubmissionError
from submissions.requeue import cut_and_requeue

ADMIN_TAB: Final = "admin"
NO_TOKEN_MESSAGE: Final = "No admin token is configured on this server."
LOG_ROWS: Final = 50
MAX_REQUEST_ROWS: Final = 300
MAX_UNREADABLE_SHOWN: Final = 20  # the rest are counted; `submissions list` names them all
MAX_MODEL_CHOICES: Final = 1000  # beyond this, type the name (the dropdown takes any value)
DENIED: Final = "❌ **Not allowed:** this needs a maintainer (sign in again)."

log = logging.getLogger(__name__)

# Which requests a maintainer can act on, in the order the panel lists them.
ACTIONABLE: Final = (Status.PENDING_APPROVAL, Status.FAILED, Status.RUNNING, Status.PENDING, Status.CANCELLED)


# ---------------------------------------------------------------------------------------
# What the panel shows (plain data; every cell plain text)


def _when(value: datetime | str | None) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return plain_text(value)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _none(text: str = "None.") -> pd.DataFrame:
    return pd.DataFrame({"": [text]})


def request_label(record: RequestRecord) -> str:
    return f"{record.id} · {plain_text(record.model)} · {record.status.value}"


def actionable_requests(queue: Queue) -> list[RequestRecord]:
    order = {status: n for n, status in enumerate(ACTIONABLE)}
    records = [r for r in queue.records() if r.status in order]
    records.sort(key=lambda r: order[r.status])  # stable: the queue's own order within a status
    return records[:MAX_REQUEST_ROWS]


def requests_table(records: Sequence[RequestRecord]) -> pd.DataFrame:
    if not records:
        return _none("No request needs a maintainer.")
    return pd.DataFrame(
        [
            {
                "Request": r.id,
                "Model": plain_text(r.model),
                "Type": r.model_type,
                "Status": r.status.value,
                "Submitter": plain_text(r.submitter),
                "Submitted": _when(r.submitted_at),
                "Reason": plain_text(r.reason or "—"),
            }
            for r in records
        ]
    )


def hidden_table(data: DataDir) -> pd.DataFrame:
    try:
        hidden = read_hidden(data)
    except (OSError, ValueError) as exc:
        return _none(f"hidden.json cannot be read: {type(exc).__name__}")
    if not hidden:
        return _none("No model is hidden.")
    return pd.DataFrame(
        [{"Model": plain_text(h.model), "Reason (public)": plain_text(h.reason), "Hidden": _when(h.hidden_at)}
         for h in hidden.values()]
    )  # fmt: skip


def model_choices(store: ResultStore) -> list[str]:
    """Models with results, hidden ones too (so they can be shown again)."""
    frame = store.results()
    return sorted({str(m) for m in frame["model"].dropna()}, key=str.lower) if len(frame) else []


def sets_table(data: DataDir) -> pd.DataFrame:
    rows = []
    for name in set_names(data):
        versions = list_versions(data, name)
        rows.append(
            {
                "Set": name,
                "Versions": ", ".join(versions) or "—",
                "Newest": versions[-1] if versions else "—",
                # Only whether a draft exists: the panel never opens the private items.
                "Draft waiting to be cut": "yes" if (set_root(data, name) / "draft.jsonl").is_file() else "no",
            }
        )
    return pd.DataFrame(rows) if rows else _none("No held-out set yet (python -m evaluator sets add ...).")


def audit_summary(data: DataDir) -> tuple[str, pd.DataFrame]:
    report = latest_audit_report(data)
    if not report:
        return "No audit report yet. Run one below, or `python -m evaluator audit`.", _none()
    listed = report.get("findings")
    findings: list[Any] = listed if isinstance(listed, list) else []
    verdict = "✅ clean" if report.get("clean") else f"❌ **{len(findings)} finding(s)**"
    text = (
        f"Latest audit {markdown_text(_when(report.get('created_at')))}: {verdict}; "
        f"{markdown_text(report.get('files', '?'))} public files checked against "
        f"{markdown_text(report.get('private_items', '?'))} private items."
    )
    if not findings:
        return text, _none("No finding.")
    rows = [
        {
            "File": plain_text(f.get("path")),
            "Where": plain_text(f.get("where") or "—"),
            "Set": plain_text(f.get("set_name")),
            "Item id": plain_text(f.get("item_id")),
            "Kind": plain_text(f.get("kind")),
            "Matches": plain_text(f.get("shared")),
        }
        for f in findings
        if isinstance(f, dict)
    ]
    return text, pd.DataFrame(rows)


# The saved reports' `track`: the checklist levels of single replies, or C1-C5 over whole
# conversations (there the harm figures are about "harmful" answers to the five questions).
CALIBRATION_TRACKS: Final = {"single_turn": "single turn", "conversation": "conversation (C1-C5)"}


def calibration_table(data: DataDir) -> pd.DataFrame:
    reports = calibration_reports(data)
    if not reports:
        return _none("No calibration report yet (python -m evaluator calibrate ...).")
    rows = []
    for report in reversed(reports):
        found = report.get("overall")
        overall: dict[str, Any] = found if isinstance(found, dict) else {}
        track = str(report.get("track", "single_turn"))
        rows.append(
            {
                "Date": _when(report.get("created_at")),
                "Track": CALIBRATION_TRACKS.get(track, plain_text(track)),
                "Judge": plain_text(report.get("judge")),
                "Official": "yes" if report.get("official") else "no",
                "n": plain_text(overall.get("n", "—")),
                "Kappa": num(overall.get("quadratic_kappa")),
                "Harm recall": pct(overall.get("harmful_recall")),
                "Harm precision": pct(overall.get("harmful_precision")),
                "Within one": pct(overall.get("within_one")),
                "Leniency": num(overall.get("mean_signed_difference"), "+.2f"),
                "File": plain_text(report.get("file")),
            }
        )
    return pd.DataFrame(rows)


def log_table(data: DataDir) -> pd.DataFrame:
    records = read_admin_log(data, LOG_ROWS)
    if not records:
        return _none("Nothing logged yet.")
    return pd.DataFrame(
        [
            {
                "When": _when(r.get("at")),
                "Who": plain_text(r.get("who")),
                "Action": plain_text(r.get("action")),
                "Detail": plain_text(json.dumps(r.get("detail"), ensure_ascii=False, sort_keys=True)),
            }
            for r in reversed(records)
        ]
    )


# ---------------------------------------------------------------------------------------
# The panel


@dataclass
class AdminPanel:
    """The admin tab's components; `outputs` is what every action refreshes."""

    header: gr.Markdown
    message: gr.Markdown
    requests: gr.Dataframe
    request: gr.Dropdown
    reason: gr.Textbox
    approve: gr.Button
    reject: gr.Button
    retry: gr.Button
    cancel: gr.Button
    hidden: gr.Dataframe
    model: gr.Dropdown
    hide_reason: gr.Textbox
    hide: gr.Button
    unhide: gr.Button
    sets: gr.Dataframe
    set_name: gr.Dropdown
    cut: gr.Button
    audit_text: gr.Markdown
    audit_findings: gr.Dataframe
    run_audit: gr.Button
    calibration: gr.Dataframe
    log: gr.Dataframe
    refresh: gr.Button
    nothing: gr.State

    @property
    def outputs(self) -> list[Any]:
        return [
            self.header,
            self.message,
            self.requests,
            self.request,
            self.hidden,
            self.model,
            self.sets,
            self.set_name,
            self.audit_text,
            self.audit_findings,
            self.calibration,
            self.log,
        ]


def build_admin_panel() -> AdminPanel:
    """The tab's content, empty: it is filled by a checked call only."""
    header = gr.Markdown(elem_id="admin-header")
    message = gr.Markdown(elem_id="admin-message")
    gr.Markdown("### Requests\nAPI models wait for approval; failed or cancelled requests can be re-run.")
    requests = gr.Dataframe(
        interactive=False, wrap=True, label="Requests needing a maintainer", elem_id="admin-requests"
    )
    with gr.Row():
        request = gr.Dropdown([], label="Request", allow_custom_value=True, scale=3, elem_id="admin-request")
        reason = gr.Textbox(label="Reason (public; needed to reject)", max_length=300, scale=3, elem_id="admin-reason")
    with gr.Row():
        approve = gr.Button("Approve", variant="primary", elem_id="admin-approve")
        reject = gr.Button("Reject", variant="stop", elem_id="admin-reject")
        retry = gr.Button("Re-run", elem_id="admin-retry")
        cancel = gr.Button("Cancel", elem_id="admin-cancel")
    gr.Markdown("### Hide a model\nIt leaves every board and the API; the reason is shown to everyone.")
    hidden = gr.Dataframe(interactive=False, wrap=True, label="Hidden models", elem_id="admin-hidden")
    with gr.Row():
        model = gr.Dropdown([], label="Model", allow_custom_value=True, scale=3, elem_id="admin-model")
        hide_reason = gr.Textbox(label="Public reason", max_length=300, scale=3, elem_id="admin-hide-reason")
    with gr.Row():
        hide = gr.Button("Hide", variant="stop", elem_id="admin-hide")
        unhide = gr.Button("Show again", elem_id="admin-unhide")
    gr.Markdown(
        "### Held-out set versions\nCutting freezes the draft as the next version (refused, with what is "
        "missing, below the per-category minimum or outside the balance tolerance) and queues every model "
        "finished on the previous version again."
    )
    sets = gr.Dataframe(interactive=False, label="Sets", elem_id="admin-sets")
    with gr.Row():
        set_name = gr.Dropdown([], label="Set", allow_custom_value=True, scale=3, elem_id="admin-set")
        cut = gr.Button("Cut a new version", scale=1, elem_id="admin-cut")
    gr.Markdown("### Secrecy audit")
    audit_text = gr.Markdown(elem_id="admin-audit")
    audit_findings = gr.Dataframe(interactive=False, wrap=True, label="Findings", elem_id="admin-audit-findings")
    run_audit = gr.Button("Run the audit now", size="sm", elem_id="admin-run-audit")
    gr.Markdown("### Judge calibration")
    calibration = gr.Dataframe(
        interactive=False, label="Calibration reports, newest first", elem_id="admin-calibration"
    )
    gr.Markdown("### Admin log")
    log_ = gr.Dataframe(interactive=False, wrap=True, label=f"Last {LOG_ROWS} actions", elem_id="admin-log")
    refresh = gr.Button("Refresh", size="sm", elem_id="admin-refresh")
    return AdminPanel(
        header, message, requests, request, reason, approve, reject, retry, cancel, hidden, model,
        hide_reason, hide, unhide, sets, set_name, cut, audit_text, audit_findings, run_audit,
        calibration, log_, refresh, gr.State(""),
    )  # fmt: skip


@dataclass
class SignIn:
    """The caller's credential inputs: a password box locally, nothing to type on a Space."""

    secret: Any
    name: Any
    button: gr.Button | None
    lock: gr.Button | None
    message: Any


def build_sign_in(access: AdminAccess) -> SignIn:
    if not access.uses_token:
        return SignIn(gr.State(None), gr.State(None), None, None, gr.State(None))
    with gr.Accordion("Maintainers", open=False, elem_id="admin-sign-in"):
        gr.Markdown(
            "The admin panel opens with the local admin token (CRISIS_ADMIN_TOKEN on the server)."
            if access.token_configured
            else NO_TOKEN_MESSAGE
        )
        with gr.Row():
            name = gr.Textbox(
                label="Your name (for the admin log)",
                value="local",  # never $USER: the page config is public
                max_length=60,
                elem_id="admin-name",
            )
            secret = gr.Textbox(label="Admin token", type="password", max_length=512, elem_id="admin-token")
        with gr.Row():
            button = gr.Button("Open the admin panel", variant="primary", elem_id="admin-unlock")
            lock = gr.Button("Close it", elem_id="admin-lock")
        message = gr.Markdown(elem_id="admin-sign-in-message")
    return SignIn(secret, name, button, lock, message)


# ---------------------------------------------------------------------------------------
# Handlers


class AdminActions:
    """The panel's handlers, each (target, text, secret, name, profile, oauth_token) ->
    panel outputs. Every one checks the caller first and changes nothing when refused."""

    def __init__(
        self,
        home: Store | DataDir,
        access: AdminAccess,
        settings: Settings | None = None,
        store: ResultStore | None = None,
    ) -> None:
        """`home`: the store every action writes through (a plain DataDir: a local home)."""
        self.home = home
        self.data = data_of(home)
        self.access = access
        self.queue = Queue.local(home, settings or Settings.from_env())
        self.store = store or ResultStore(self.data, persist=False)
        self.guard = TokenGuard(self.data)

    def _check(
        self,
        secret: str | None,
        name: str | None,
        profile: gr.OAuthProfile | None,
        oauth_token: gr.OAuthToken | None,
        request: gr.Request | None,
    ) -> tuple[Maintainer | None, str | None]:
        """The maintainer, or None with the reason to show; wrong tokens are counted and slowed."""
        if not self.access.uses_token:
            return self.access.check(secret, name, profile, oauth_token), None
        client = client_of(request)
        waiting = self.guard.refusal(client)
        if waiting is not None:
            return None, waiting
        maintainer = self.access.check(secret, name, profile, oauth_token)
        if maintainer is None and secret and self.access.token_configured:
            self.guard.failed(client)
        return maintainer, None

    # -- what every call returns ---------------------------------------------------------

    def view(self, maintainer: Maintainer, message: str, target: str | None = None) -> tuple[Any, ...]:
        with contextlib.suppress(StoreError):  # a Hub mirror keeps no logs/: fetch what others wrote
            as_store(self.home).pull("logs/")
        records = actionable_requests(self.queue)
        choices = [(request_label(r), r.id) for r in records]
        request_value = target if target in {r.id for r in records} else None
        models = model_choices(self.store)
        names = set_names(self.data)
        audit_text, findings = audit_summary(self.data)
        bad = self.queue.unreadable()  # from the listing actionable_requests just made
        unreadable = (
            f" **{len(bad)} request record(s) could not be read:** "
            + "; ".join(markdown_text(line) for line in bad[:MAX_UNREADABLE_SHOWN])
            + (" …" if len(bad) > MAX_UNREADABLE_SHOWN else "")
            if bad
            else ""
        )
        return (
            f"Signed in as **{markdown_text(maintainer.who)}**, through {markdown_text(maintainer.via)}. "
            f"Failed admin-token attempts since start-up: **{self.guard.failed_total}**.{unreadable}",
            message,
            requests_table(records),
            gr.Dropdown(choices=choices, value=request_value),
            hidden_table(self.data),
            gr.Dropdown(choices=models[:MAX_MODEL_CHOICES]),
            sets_table(self.data),
            gr.Dropdown(choices=names, value=names[0] if len(names) == 1 else None),
            audit_text,
            findings,
            calibration_table(self.data),
            log_table(self.data),
        )

    @staticmethod
    def denied(message: str = DENIED) -> tuple[Any, ...]:
        # Blank every private view too: a page whose credential stopped working keeps nothing.
        empty = pd.DataFrame()
        return ("", message, empty, gr.Dropdown(choices=[], value=None), empty, gr.Dropdown(choices=[]), empty,
                gr.Dropdown(choices=[], value=None), "", empty, empty, empty)  # fmt: skip

    def _guard(
        self, action: Callable[[Maintainer, str, str], tuple[str, str | None]]
    ) -> Callable[..., tuple[Any, ...]]:
        def handler(
            target: str | None,
            text: str | None,
            secret: str | None,
            name: str | None,
            profile: gr.OAuthProfile | None,
            oauth_token: gr.OAuthToken | None,
            request: gr.Request | None = None,
        ) -> tuple[Any, ...]:
            maintainer, _waiting = self._check(secret, name, profile, oauth_token, request)
            if maintainer is None:  # the sign-in box says how long to wait; an action just refuses
                log.warning("refused an admin action (%s) from a caller who is not a maintainer", action.__name__)
                return self.denied()
            try:
                message, keep = action(maintainer, str(target or "").strip(), str(text or "").strip())
            except StoreError as exc:
                # On a Hub store every action is a commit; one the Hub did not take is not done.
                log.warning("admin action %s not committed: %s", action.__name__, exc)
                message, keep = f"❌ **Not saved:** the Hub store did not take it ({markdown_text(exc)}).", None
            return self.view(maintainer, message, keep)

        handler.__name__ = f"admin_{action.__name__.lstrip('_')}"
        return handler

    def handlers(self) -> dict[str, Callable[..., tuple[Any, ...]]]:
        return {
            name: self._guard(getattr(self, f"_{name}"))
            for name in ("refresh", "approve", "reject", "retry", "cancel", "hide", "unhide", "cut", "audit")
        }

    def sign_in(
        self,
        secret: str | None,
        name: str | None,
        profile: gr.OAuthProfile | None,
        oauth_token: gr.OAuthToken | None,
        request: gr.Request | None = None,
    ) -> tuple[Any, ...]:
        """Show the tab (and open it) to a maintainer; keep it hidden from anyone else."""
        maintainer, waiting = self._check(secret, name, profile, oauth_token, request)
        if maintainer is None:
            wrong = "❌ That is not the admin token." if self.access.token_configured else NO_TOKEN_MESSAGE
            said = waiting or (wrong if secret else "")
            return (gr.Tab(visible=False), gr.Tabs(), said, *self.denied(""))
        welcome = "✅ The admin panel is open."
        selected = gr.Tabs(selected=ADMIN_TAB) if self.access.uses_token else gr.Tabs()
        return (gr.Tab(visible=True), selected, welcome, *self.view(maintainer, ""))

    def sign_out(self) -> tuple[Any, ...]:
        return (gr.Tab(visible=False), gr.Tabs(selected="leaderboard"), "The admin panel is closed.", "",
                *self.denied(""))  # fmt: skip

    # -- the actions: (maintainer, target, text) -> (message, request to keep selected) --

    def _record(self, who: Maintainer, action: str, detail: Mapping[str, Any]) -> None:
        log_admin_action(self.home, who.who, action, detail)

    def _request_action(
        self, who: Maintainer, request_id: str, action: str, verb: str, act: Callable[[str], RequestRecord]
    ) -> tuple[str, str | None]:
        if not request_id:
            return "❌ Choose a request first.", None
        try:
            record = act(request_id)
        except SubmissionError as exc:
            return f"❌ **Not {verb}:** {markdown_text(exc)}", request_id
        detail: dict[str, Any] = {"request": record.id, "model": record.model, "status": record.status.value}
        if record.reason:
            detail["reason"] = record.reason
        self._record(who, f"queue.{action}", detail)
        position = self.queue.position(record.id)
        where = f"; queue position {position}" if position else ""
        return (
            f"✅ {verb.capitalize()}: {markdown_text(record.model)} (request {markdown_text(record.id)}), "
            f"now {record.status.value}{where}.",
            record.id,
        )

    def _refresh(self, who: Maintainer, target: str, text: str) -> tuple[str, str | None]:
        return "", target or None

    def _approve(self, who: Maintainer, target: str, text: str) -> tuple[str, str | None]:
        return self._request_action(
            who, target, "approve", "approved", lambda i: self.queue.approve(i, maintainer=True)
        )

    def _reject(self, who: Maintainer, target: str, text: str) -> tuple[str, str | None]:
        if not text:
            return "❌ A rejection needs a reason the requester can read.", target or None
        return self._request_action(
            who, target, "reject", "rejected", lambda i: self.queue.reject(i, maintainer=True, reason=text)
        )

    def _retry(self, who: Maintainer, target: str, text: str) -> tuple[str, str | None]:
        return self._request_action(who, target, "retry", "re-run", lambda i: self.queue.retry(i, maintainer=True))

    def _cancel(self, who: Maintainer, target: str, text: str) -> tuple[str, str | None]:
        return self._request_action(
            who,
            target,
            "cancel",
            "cancelled",
            lambda i: self.queue.cancel(i, user=who.who, maintainer=True, reason=text or None),
        )

    def _hide(self, who: Maintainer, target: str, text: str) -> tuple[str, str | None]:
        try:
            entry = hide_model(self.home, target, text, known=model_choices(self.store))
        except HiddenError as exc:
            return f"❌ **Not hidden:** {markdown_text(exc)}", None
        self._record(who, "leaderboard.hide", {"model": entry.model, "reason": entry.reason})
        return f"✅ Hidden: {markdown_text(entry.model)}. Reason shown: {markdown_text(entry.reason)}", None

    def _unhide(self, who: Maintainer, target: str, text: str) -> tuple[str, str | None]:
        try:
            entry = unhide_model(self.home, target)
        except HiddenError as exc:
            return f"❌ **Not shown again:** {markdown_text(exc)}", None
        self._record(who, "leaderboard.unhide", {"model": entry.model})
        return f"✅ {markdown_text(entry.model)} is on the leaderboard again.", None

    def _cut(self, who: Maintainer, target: str, text: str) -> tuple[str, str | None]:
        if not target:
            return "❌ Choose a set first.", None
        try:
            result = cut_and_requeue(self.home, target, who=who.who)  # the cut logs sets.freeze as `who`
        except (ItemSetError, OSError) as exc:
            return f"❌ **Not cut:** {markdown_text(exc)}", None
        lines = [
            f"✅ Cut {markdown_text(result.name)} {markdown_text(result.version)}: {result.items} items, "
            f"{len(result.added)} added, {len(result.retired)} retired"
            + (f" since {markdown_text(result.previous)}" if result.previous else "")
            + "."
        ]
        if result.published:
            lines.append(f"{result.published} retired items are now in the public retired set.")
        report = result.requeue
        if report is not None:
            lines.append(
                f"Re-evaluation queued for {len(report.queued)} models"
                + (f", {len(report.skipped)} already queued" if report.skipped else "")
                + "."
            )
            lines += [f"⚠️ Not queued: {markdown_text(model)}: {markdown_text(error)}" for model, error in report.failed]
        return "\n\n".join(lines), None

    def _audit(self, who: Maintainer, target: str, text: str) -> tuple[str, str | None]:
        try:
            report = audit(self.data)
            save_audit_report(self.home, report)
        except (OSError, ValueError) as exc:
            return f"❌ **The audit could not run:** {markdown_text(exc)}", None
        self._record(who, "audit.run", {"clean": report.clean, "findings": len(report.findings), "files": report.files})
        verdict = "clean" if report.clean else f"{len(report.findings)} finding(s): see below"
        return f"Audit done: {verdict}.", None


def wire_admin(
    demo: gr.Blocks,
    panel: AdminPanel,
    sign_in: SignIn,
    tab: gr.Tab,
    tabs: gr.Tabs,
    actions: AdminActions,
) -> None:
    handlers = actions.handlers()
    credential = [sign_in.secret, sign_in.name]
    outputs = panel.outputs
    events: list[tuple[Any, str, list[Any]]] = [
        (panel.refresh.click, "refresh", [panel.request, panel.nothing]),
        (panel.approve.click, "approve", [panel.request, panel.reason]),
        (panel.reject.click, "reject", [panel.request, panel.reason]),
        (panel.retry.click, "retry", [panel.request, panel.reason]),
        (panel.cancel.click, "cancel", [panel.request, panel.reason]),
        (panel.hide.click, "hide", [panel.model, panel.hide_reason]),
        (panel.unhide.click, "unhide", [panel.model, panel.nothing]),
        (panel.cut.click, "cut", [panel.set_name, panel.nothing]),
        (panel.run_audit.click, "audit", [panel.nothing, panel.nothing]),
    ]
    for trigger, name, inputs in events:
        trigger(
            handlers[name],
            [*inputs, *credential],
            outputs,
            api_name=f"admin_{name}",
            api_visibility="private",
            concurrency_id="admin",
            concurrency_limit=1,  # one maintainer action at a time: they read then write shared files
        )
    opened = [tab, tabs, sign_in.message]
    if sign_in.button is not None:
        sign_in.button.click(
            actions.sign_in, credential, [*opened, *outputs], api_name="admin_sign_in", api_visibility="private"
        )
        sign_in.secret.submit(actions.sign_in, credential, [*opened, *outputs], api_visibility="private")
    if sign_in.lock is not None:
        sign_in.lock.click(actions.sign_out, None, [*opened, *outputs], api_visibility="private").then(
            lambda: "", None, sign_in.secret, api_visibility="private"
        )
    if not actions.access.uses_token:
        # On a Space the sign-in is the Hub's: a maintainer's page reveals the tab on load.
        demo.load(actions.sign_in, credential, [*opened, *outputs], api_name="admin_sign_in", api_visibility="private")


__all__ = [
    "ADMIN_TAB",
    "DENIED",
    "AdminActions",
    "AdminPanel",
    "SignIn",
    "build_admin_panel",
    "build_sign_in",
    "wire_admin",
]
