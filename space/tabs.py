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
from datetime import UTC, datetime
from typing import Any, Final

import gradio as gr
import pandas as pd

from evaluator.storage import DataDir
from leaderboard.links import markdown_text, plain_text
from submissions import HubClient, Queue, RequestRecord, Settings, Status, SubmissionError, Validator, submit
from submissions.target import current_set
from submissions.validation import DEFAULT_REVISION, PRECISIONS

REFRESH_S: Final = 10.0
LOCAL_SUBMITTER: Final = "local"

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


def _row(group: str, record: RequestRecord, position: int | None, max_attempts: int, now: datetime) -> dict[str, str]:
    model = plain_text(record.model)
    common = {"Model": model, "Revision": _revision(record), "Type": record.model_type}
    if group == "Pending":
        return {"Position": str(position or "—"), **common, "Submitted": _when(record.submitted_at)}
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


def queue_tables(queue: Queue, now: datetime | None = None) -> tuple[str, list[pd.DataFrame]]:
    """A summary line and one table per status group, every cell plain text."""
    now = now or datetime.now(UTC)
    records = queue.records()
    positions = queue.positions(records)
    tables: list[pd.DataFrame] = []
    counts: list[str] = []
    for group, statuses in GROUPS:
        rows = [_row(group, r, positions.get(r.id), queue.max_attempts, now) for r in records if r.status in statuses]
        tables.append(pd.DataFrame(rows) if rows else pd.DataFrame({"": ["None."]}))
        counts.append(f"{group.split(' (')[0].lower()} {len(rows)}")
    summary = f"Updated {_when(now)} · " + " · ".join(counts)
    return summary, tables


@dataclass
class QueueTab:
    summary: gr.Markdown
    tables: list[gr.Dataframe]
    timer: gr.Timer
    refresh: Callable[[], tuple[Any, ...]]

    @property
    def outputs(self) -> list[Any]:
        return [self.summary, *self.tables]


def build_queue_tab(data: DataDir, settings: Settings | None = None) -> QueueTab:
    queue = Queue.local(data, settings or Settings.from_env())

    def refresh() -> tuple[Any, ...]:
        try:
            summary, tables = queue_tables(queue)
        except (OSError, SubmissionError) as exc:
            return (f"⚠️ The queue cannot be read right now: {markdown_text(exc)}", *([gr.Dataframe()] * len(GROUPS)))
        return (summary, *tables)

    gr.Markdown(
        "Every request and where it stands. A failed request always shows why. "
        f"This page refreshes every {REFRESH_S:.0f} s while it is open."
    )
    with gr.Row():
        summary = gr.Markdown(elem_id="queue-summary")
        refresh_button = gr.Button("Refresh", size="sm", scale=0)
    initial = refresh()
    tables = []
    for (group, _), value in zip(GROUPS, initial[1:], strict=True):
        tables.append(
            gr.Dataframe(
                value=value,
                label=group,
                interactive=False,
                wrap=True,
                elem_id="queue-" + group.split(" ")[0].lower(),
            )
        )
    summary.value = initial[0]
    timer = gr.Timer(REFRESH_S, active=False)
    tab = QueueTab(summary, tables, timer, refresh)
    timer.tick(refresh, None, tab.outputs, api_visibility="private", show_progress="hidden")
    refresh_button.click(refresh, None, tab.outputs, api_visibility="private", show_progress="hidden")
    return tab


# ---------------------------------------------------------------------------------------


def _request_table(record: RequestRecord, position: int | None) -> pd.DataFrame:
    fields = [
        ("request id", record.id),
        ("model", record.model),
        ("revision", record.revision or "—"),
        ("commit", record.sha or "—"),
        ("license", record.license or "—"),
        ("parameters", f"{record.params / 1e9:.2f} B" if record.params else "—"),
        ("set", f"{record.set_name} {record.set_version}"),
        ("status", record.status.value),
        ("queue position", str(position) if position else "—"),
        ("submitted", _when(record.submitted_at)),
    ]
    return pd.DataFrame([{"Field": k, "Value": plain_text(v)} for k, v in fields])


def do_submit(
    data: DataDir,
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
            from submissions import HfHubClient

            hub = options.hub = HfHubClient()
        kwargs: dict[str, Any] = {}
        if options.known_model_types is not None:
            kwargs["known_model_types"] = options.known_model_types
        validator = Validator(hub, target=current_set(data), settings=settings, **kwargs)
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
        f"✅ **Queued** {markdown_text(shown)} as request {markdown_text(record.id)}, "
        f"position **{position or '—'}** in the queue.",
        _request_table(record, position),
    )


def build_submit_tab(data: DataDir, *, login: bool, options: SubmitOptions | None = None) -> None:
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
    with gr.Row():
        model = gr.Textbox(label="Model id", placeholder="org/name", scale=3, elem_id="submit-model")
        revision = gr.Textbox(label="Revision", value=DEFAULT_REVISION, scale=1, elem_id="submit-revision")
        precision = gr.Dropdown(list(PRECISIONS), value="auto", label="Precision", scale=1)
    submitter = None
    if not login:
        submitter = gr.Textbox(
            label="Your name (local runs only; a Space uses your Hugging Face login)",
            value=os.environ.get("USER") or LOCAL_SUBMITTER,
            elem_id="submit-user",
        )
    button = gr.Button("Submit", variant="primary", elem_id="submit-button")
    message = gr.Markdown(elem_id="submit-message")
    details = gr.Dataframe(interactive=False, label="Your request", elem_id="submit-details")

    if login:

        def submit_signed_in(
            model_id: str, rev: str, prec: str, profile: gr.OAuthProfile | None
        ) -> tuple[str, pd.DataFrame]:
            if not login_ready or profile is None:
                return "❌ **Not submitted:** sign in with Hugging Face first.", pd.DataFrame()
            return do_submit(data, options, model=model_id, revision=rev, precision=prec, submitter=profile.username)

        button.click(submit_signed_in, [model, revision, precision], [message, details], api_visibility="private")
    else:
        assert submitter is not None

        def submit_local(model_id: str, rev: str, prec: str, user: str) -> tuple[str, pd.DataFrame]:
            return do_submit(data, options, model=model_id, revision=rev, precision=prec, submitter=user)

        button.click(
            submit_local, [model, revision, precision, submitter], [message, details], api_visibility="private"
        )
