"""Submit and queue tabs, shown from what submissions/ validates and records.

Every validation failure is shown as its one-line reason, and every failure reason in the
queue is shown (as text: reasons can quote user input such as a model id). The queue table
refreshes on a timer that runs only while the Queue tab is open.

No `from __future__ import annotations` here: Gradio reads the OAuth profile parameter's
type at run time to know that it should pass the signed-in user.
"""

import os
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import gradio as gr
import pandas as pd

from evaluator.storage import DataDir, Store, data_of
from leaderboard.links import markdown_text, plain_text
from submissions import (
    HfHubClient,
    HubClient,
    Queue,
    RequestRecord,
    Settings,
    Status,
    SubmissionError,
    Validator,
    submit,
)
from submissions.ratelimit import RateLimit
from submissions.target import current_set
from submissions.validation import DEFAULT_REVISION, PRECISIONS

REFRESH_S: Final = 10.0
LOCAL_SUBMITTER: Final = "local"
MODEL_ID_MAX: Final = 200  # a Hub id is at most 96 + 1 + 96 characters
RECENT_RUNS: Final = 10  # finished requests whose run times give the ETA

GROUPS: Final[tuple[tuple[str, tuple[Status, ...]], ...]] = (
    ("Pending", (Status.PENDING,)),
    ("Running", (Status.RUNNING,)),
    ("Failed", (Status.FAILED,)),
    ("Finished", (Status.FINISHED,)),
    ("Cancelled or rejected", (Status.CANCELLED, Status.REJECTED)),
    ("Awaiting maintainer approval (API models)", (Status.PENDING_APPROVAL,)),
)


@dataclass
class SubmitOptions:
    """What the submit tab needs from outside; tests pass a scripted Hub."""

    hub: HubClient | None = None  # None: the real Hub client, made on the first submission
    settings: Settings | None = None
    known_model_types: Callable[[], Collection[str] | None] | None = None


def _when(value: datetime | None) -> str:
    return "—" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _elapsed(since: datetime | None, now: datetime) -> str:
    if since is None:
        return "—"
    minutes = max(0, int((now - since).total_seconds() // 60))
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _revision(record: RequestRecord) -> str:
    if record.sha:
        return record.sha[:7] + (f" ({plain_text(record.revision)})" if record.revision else "")
    return plain_text(record.revision) if record.revision else "—"


def _judges() -> str:
    return plain_text(os.environ.get("CRISIS_JUDGES") or "heuristic")


def _row(
    group: str,
    record: RequestRecord,
    position: int | None,
    max_attempts: int,
    now: datetime,
    run_s: float | None = None,
) -> dict[str, str]:
    model = plain_text(record.model)
    common = {
        "Request": plain_text(record.id),
        "Model": model,
        "Revision": _revision(record),
        "Type": record.model_type,
        "Submitter": plain_text(record.submitter),
        "Set": plain_text(record.set_label),
    }
    if group == "Pending":
        eta = "—" if run_s is None or not position else f"~{_duration(run_s * position)}"
        return {
            "Position": str(position or "—"),
            **common,
            "Judge": _judges(),
            "ETA": eta,
            "Submitted": _when(record.submitted_at),
        }
    if group == "Running":
        # The worker publishes the stage and item counts at each heartbeat (never item text).
        progress = f"running {_elapsed(record.started_at, now)}, attempt {record.attempts} of {max_attempts}"
        if record.progress:
            progress = f"{record.progress} · {progress}"
        return {**common, "Started": _when(record.started_at), "Progress": progress}
    if group == "Failed":
        return {
            **common,
            "Failed": _when(record.finished_at or record.updated_at),
            "Reason": plain_text(record.reason or "no reason recorded"),
            "Error": plain_text(record.error_class or "—"),
            "Attempts": str(record.attempts),
        }
    if group == "Finished":
        return {**common, "Finished": _when(record.finished_at or record.updated_at), "Run": plain_text(record.run_id)}
    if group.startswith("Cancelled"):
        return {
            **common,
            "Status": record.status.value.lower(),
            "When": _when(record.updated_at),
            "Reason": plain_text(record.reason or "—"),
        }
    return {**common, "Requested": _when(record.submitted_at)}


def _duration(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def recent_run_s(records: list[RequestRecord]) -> float | None:
    """Median wall time of the last finished runs: what the next request will likely take."""
    spans = sorted(
        (
            (r.finished_at, (r.finished_at - r.started_at).total_seconds())
            for r in records
            if r.status == Status.FINISHED and r.started_at is not None and r.finished_at is not None
        ),
        key=lambda pair: pair[0],
    )[-RECENT_RUNS:]
    if not spans:
        return None
    values = sorted(max(0.0, s) for _, s in spans)
    return values[len(values) // 2]


def queue_tables(
    queue: Queue, now: datetime | None = None, records: list[RequestRecord] | None = None
) -> tuple[str, list[pd.DataFrame]]:
    """A summary line and one table per status group, every cell plain text; an empty group
    is one line ("None."). `records`: the queue as already read."""
    now = now or datetime.now(UTC)
    records = queue.records() if records is None else records
    positions = queue.positions(records)
    run_s = recent_run_s(records)
    tables: list[pd.DataFrame] = []
    counts: list[str] = []
    for group, statuses in GROUPS:
        rows = [
            _row(group, r, positions.get(r.id), queue.max_attempts, now, run_s) for r in records if r.status in statuses
        ]
        tables.append(pd.DataFrame(rows) if rows else pd.DataFrame({"": ["None."]}))
        counts.append(f"{group.split(' (')[0].lower()} {len(rows)}")
    eta = f" · a run takes ~{_duration(run_s)} lately" if run_s is not None else ""
    summary = f"Updated {now.astimezone(UTC):%H:%M:%S} UTC (every {REFRESH_S:.0f} s) · " + " · ".join(counts) + eta
    waiting = any(r.status == Status.PENDING and r.model_type == "open-weight" for r in records)
    if waiting and os.environ.get("SPACE_ID"):
        # The Space's own worker runs only baselines and API models (evaluator.worker).
        summary += " · open-weight models wait for a GPU worker; this Space evaluates baselines and API models itself"
    return summary, tables


def request_status(queue: Queue, records: list[RequestRecord], request_id: str, now: datetime | None = None) -> str:
    """One line on one request (the one just submitted): where it stands and what comes next.
    Empty when there is no such request. Looked up among the records, never by file name."""
    record = next((r for r in records if r.id == request_id), None) if request_id else None
    if record is None:
        return ""
    now = now or datetime.now(UTC)
    head = f"**Your request {markdown_text(record.id)}** ({markdown_text(record.model)}): "
    status = record.status
    if status == Status.PENDING:
        position = queue.positions(records).get(record.id)
        run_s = recent_run_s(records)
        eta = f", ETA ~{_duration(run_s * position)}" if run_s is not None and position else ""
        where = f"pending, position **{position or '—'}** in the queue{eta}"
    elif status == Status.RUNNING:
        where = f"running for {_elapsed(record.started_at, now)}" + (
            f" ({markdown_text(record.progress)})" if record.progress else ""
        )
    elif status == Status.FAILED:
        where = f"failed: {markdown_text(record.reason or 'no reason recorded')}"
    elif status == Status.FINISHED:
        where = "finished; its results are on the leaderboard"
    elif status == Status.PENDING_APPROVAL:
        where = "waiting for a maintainer's approval"
    else:
        where = f"{status.value.lower()}" + (f": {markdown_text(record.reason)}" if record.reason else "")
    return head + where + f" · as of {now.astimezone(UTC):%H:%M:%S} UTC"


def _is_empty(table: pd.DataFrame) -> bool:
    return table.columns.tolist() == [""]


@dataclass
class QueueTab:
    summary: gr.Markdown
    tables: list[gr.Dataframe]
    timer: gr.Timer
    refresh: Callable[[], tuple[Any, ...]]
    # The request a visitor followed here from the Submit tab, kept up to date on each tick.
    request: gr.Markdown
    request_id: gr.State
    show: Callable[[str], tuple[Any, ...]]  # request id -> (*outputs, request line)

    @property
    def outputs(self) -> list[Any]:
        return [self.summary, *self.tables]


def build_queue_tab(data: Store | DataDir, settings: Settings | None = None) -> QueueTab:
    queue = Queue.local(data, settings or Settings.from_env())

    def read(request_id: str = "") -> tuple[str, list[pd.DataFrame] | None, str]:
        try:
            records = queue.records()
            summary, tables = queue_tables(queue, records=records)
            line = request_status(queue, records, request_id)
        except (OSError, SubmissionError) as exc:
            # The error class only: an OSError's text names the server's paths.
            why = type(exc).__name__ if isinstance(exc, OSError) else markdown_text(exc)
            return f"⚠️ The queue cannot be read right now ({why}).", None, ""
        # An empty group is one line in the summary, not an empty grid.
        empty = [group for (group, _), table in zip(GROUPS, tables, strict=True) if _is_empty(table)]
        if empty:
            summary += "\n\nNothing " + ", ".join(g.split(" (")[0].lower() for g in empty) + " at the moment."
        return summary, tables, line

    def shown(request_id: str = "") -> tuple[Any, ...]:
        summary, tables, line = read(request_id)
        if tables is None:
            return (summary, *([gr.Dataframe()] * len(GROUPS)), line)
        return (summary, *(gr.Dataframe(value=t, visible=not _is_empty(t)) for t in tables), line)

    def refresh() -> tuple[Any, ...]:
        return shown()[:-1]

    gr.Markdown(
        "Every request and where it stands. A failed request always shows why. "
        f"This page refreshes every {REFRESH_S:.0f} s while it is open."
    )
    request = gr.Markdown(elem_id="queue-request")
    request_id = gr.State("")
    with gr.Row():
        summary = gr.Markdown(elem_id="queue-summary")
        refresh_button = gr.Button("Refresh", size="sm", scale=0)
    first_summary, first, _ = read()
    values: list[pd.DataFrame] = first or [pd.DataFrame({"": ["None."]})] * len(GROUPS)
    tables = []
    for (group, _), value in zip(GROUPS, values, strict=True):
        tables.append(
            gr.Dataframe(
                value=value,
                visible=not _is_empty(value),
                label=group,
                interactive=False,
                wrap=True,
                elem_id="queue-" + group.split(" ")[0].lower(),
            )
        )
    summary.value = first_summary
    timer = gr.Timer(REFRESH_S, active=False)
    tab = QueueTab(summary, tables, timer, refresh, request, request_id, shown)
    for trigger in (timer.tick, refresh_button.click):
        trigger(shown, request_id, [*tab.outputs, request], api_visibility="private", show_progress="hidden")
    return tab


# ---------------------------------------------------------------------------------------


@dataclass
class SubmitTab:
    info: gr.Markdown
    who: list[Any]  # the inputs naming the user: the name box locally, none on a Space
    info_for: Callable[..., str]  # (*who) -> the "after you submit" text; the profile is injected
    request_id: gr.State  # the request queued last from this page
    to_queue: gr.Button


def _request_table(record: RequestRecord, position: int | None) -> pd.DataFrame:
    fields = [
        ("request id", record.id),
        ("model", record.model),
        ("revision", record.revision or "—"),
        ("commit", record.sha or "—"),
        ("license", record.license or "—"),
        ("parameters", f"{record.params / 1e9:.2f} B" if record.params else "—"),
        ("set", record.set_label),
        ("status", record.status.value),
        ("queue position", str(position) if position else "—"),
        ("submitted", _when(record.submitted_at)),
    ]
    return pd.DataFrame([{"Field": k, "Value": plain_text(v)} for k, v in fields])


def do_submit(
    data: Store | DataDir,
    options: SubmitOptions,
    *,
    model: str,
    revision: str,
    precision: str,
    submitter: str | None,
) -> tuple[str, pd.DataFrame]:
    """Validate and queue; the message line and the request's details (empty on failure)."""
    settings = options.settings or Settings.from_env()
    queue = Queue.local(data, settings)
    empty = pd.DataFrame()
    try:
        hub = options.hub
        if hub is None:
            hub = options.hub = HfHubClient()
        kwargs: dict[str, Any] = {}
        if options.known_model_types is not None:
            kwargs["known_model_types"] = options.known_model_types
        validator = Validator(hub, target=current_set(data_of(data)), settings=settings, **kwargs)
        record = submit(
            queue,
            validator,
            model=(model or "").strip(),
            revision=(revision or "").strip() or None,
            precision=precision or "auto",
            submitter=submitter,
            maintainer=settings.is_maintainer(submitter),
        )
    except SubmissionError as exc:
        return f"❌ **Not submitted:** {markdown_text(exc)}", empty
    position = queue.position(record.id)
    shown = f"{record.model}@{(record.sha or '')[:7]}"
    return (
        f"✅ **Queued** {markdown_text(shown)} as request {markdown_text(record.id)} "
        f"(status {record.status.value}), position **{position or '—'}** in the queue. "
        "Follow it with the button below or in the **Queue** tab.",
        _request_table(record, position),
    )


def what_happens(data: Store | DataDir, settings: Settings, user: str | None) -> str:
    """What a submit leads to: the set and judge, official or not, the wait, the limit left."""
    judges = _judges()
    official = all(j.strip() != "heuristic" for j in judges.split(","))
    try:
        target = current_set(data_of(data))
        set_text = f"**{markdown_text(target.name)} {markdown_text(target.version)}**"
    except Exception:  # a deployment without its set still explains the rest
        set_text = "the current set"
    queue = Queue.local(data, settings)
    try:
        records = queue.records()
    except (OSError, SubmissionError):
        records = []
    waiting = sum(1 for r in records if r.status in (Status.PENDING, Status.RUNNING))
    run_s = recent_run_s(records)
    wait = (
        f"~{_duration(run_s * (waiting + 1))} ({waiting} ahead, a run takes ~{_duration(run_s)} lately)"
        if run_s is not None
        else f"unknown yet ({waiting} ahead; no run has finished recently)"
    )
    lines = [
        f"**After you submit:** the model is evaluated on {set_text} with judge **{markdown_text(judges)}**; "
        + (
            "the results are **official** and ranked on the current board."
            if official
            else "the results are **unofficial** (offline heuristic judge) and never ranked with official ones."
        ),
        f"Expected wait: {wait}.",
    ]
    if user:
        if settings.is_maintainer(user):
            lines.append(f"Rate limit: none for {markdown_text(user)} (maintainer).")
        else:
            now = datetime.now(UTC)
            used = len(RateLimit(settings.rate_limit, settings.rate_window).used(records, user, now))
            days = settings.rate_window / timedelta(days=1)
            left = max(0, settings.rate_limit - used)
            lines.append(
                f"Rate limit: {left} of {settings.rate_limit} submissions left for {markdown_text(user)} "
                f"in the last {days:g} days."
            )
    else:
        lines.append(f"Rate limit: {settings.rate_limit} submissions per user per {settings.rate_window.days} days.")
    return "\n\n".join(lines)


def build_submit_tab(data: Store | DataDir, *, login: bool, options: SubmitOptions | None = None) -> SubmitTab:
    options = options or SubmitOptions()
    gr.Markdown(
        "Submit an open-weight model from the Hugging Face Hub. It must be public, have safetensors "
        "weights, a chat template and a license, and load without remote code. The revision is pinned "
        "to a commit when you submit. API models are added by maintainers."
    )
    login_ready = False
    if login:
        try:
            gr.LoginButton()
            login_ready = True
        except (ImportError, ModuleNotFoundError):
            gr.Markdown("⚠️ Sign-in is not available on this deployment (gradio[oauth] is missing).")
    settings = options.settings or Settings.from_env()
    info = gr.Markdown(what_happens(data, settings, None), elem_id="submit-info")
    with gr.Row():
        model = gr.Textbox(
            label="Model id",
            placeholder="org/name",
            max_length=MODEL_ID_MAX,
            max_lines=1,
            lines=1,
            scale=3,
            elem_id="submit-model",
        )
        revision = gr.Textbox(label="Revision", value=DEFAULT_REVISION, scale=1, elem_id="submit-revision")
        precision = gr.Dropdown(list(PRECISIONS), value="auto", label="Precision", scale=1)
    submitter = None
    if not login:
        submitter = gr.Textbox(
            label="Your name (local runs only; a Space uses your Hugging Face login)",
            value=LOCAL_SUBMITTER,  # never $USER: the page config is public (issue 10.8)
            elem_id="submit-user",
        )
    button = gr.Button("Submit", variant="primary", elem_id="submit-button")
    message = gr.Markdown(elem_id="submit-message")
    request_id = gr.State("")
    # Nothing until there is a request (no empty placeholder grid); then a button to follow it.
    to_queue = gr.Button("Follow it in the Queue tab", visible=False, size="sm", elem_id="submit-to-queue")
    details = gr.Dataframe(interactive=False, label="Your request", visible=False, elem_id="submit-details")

    def shown(result: tuple[str, pd.DataFrame], user: str | None) -> tuple[Any, ...]:
        text, table = result
        fields = dict(zip(table["Field"], table["Value"], strict=True)) if not table.empty else {}
        queued = str(fields.get("request id") or "")
        return (
            text,
            gr.Dataframe(value=table, visible=not table.empty),
            what_happens(data, settings, user),
            queued,
            gr.Button(value=f"Follow request {queued} in the Queue tab", visible=True)
            if queued
            else gr.Button(visible=False),
        )

    outputs = [message, details, info, request_id, to_queue]
    if login:

        def submit_signed_in(model_id: str, rev: str, prec: str, profile: gr.OAuthProfile | None) -> tuple[Any, ...]:
            if not login_ready or profile is None:
                return shown(("❌ **Not submitted:** sign in with Hugging Face first.", pd.DataFrame()), None)
            user = profile.username
            return shown(do_submit(data, options, model=model_id, revision=rev, precision=prec, submitter=user), user)

        button.click(submit_signed_in, [model, revision, precision], outputs, api_visibility="private")
        return SubmitTab(info, [], signed_in_info(data, settings), request_id, to_queue)

    assert submitter is not None

    def submit_local(model_id: str, rev: str, prec: str, user: str) -> tuple[Any, ...]:
        return shown(do_submit(data, options, model=model_id, revision=rev, precision=prec, submitter=user), user)

    button.click(submit_local, [model, revision, precision, submitter], outputs, api_visibility="private")
    local = local_info(data, settings)
    submitter.change(local, submitter, info, api_visibility="private")
    return SubmitTab(info, [submitter], local, request_id, to_queue)


def signed_in_info(data: Store | DataDir, settings: Settings) -> Callable[..., str]:
    """What a submit leads to, for the user Gradio injects from the Hugging Face sign-in."""

    def info_signed_in(profile: gr.OAuthProfile | None) -> str:
        return what_happens(data, settings, profile.username if profile is not None else None)

    return info_signed_in


def local_info(data: Store | DataDir, settings: Settings) -> Callable[..., str]:
    """What a submit leads to, for the name typed on a local run."""

    def info_local(user: str | None) -> str:
        return what_happens(data, settings, (user or "").strip() or None)

    return info_local


def wire_submit(st: SubmitTab, qt: QueueTab, submit_tab: gr.Tab, queue_tab: gr.Tab, tabs: gr.Tabs) -> None:
    """Opening the Submit tab shows the wait and the limit left as they are now, for the user
    signed in (a Space) or named (locally); the button under a queued request opens the Queue
    tab on that request."""
    submit_tab.select(st.info_for, st.who, st.info, api_visibility="private", show_progress="hidden")

    def follow(request_id: str) -> tuple[Any, ...]:
        return (gr.Tabs(selected=queue_tab.id), gr.Timer(active=True), *qt.show(request_id), request_id)

    st.to_queue.click(
        follow,
        st.request_id,
        [tabs, qt.timer, *qt.outputs, qt.request, qt.request_id],
        api_visibility="private",
        show_progress="hidden",
    )
