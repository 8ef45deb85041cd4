"""The Gradio app: the page's tabs put together, sign-in, the queue's timer, and launch.

This module only shows what leaderboard/ computes (and, for submit and queue, what
submissions/ records); it holds no ranking or evaluation logic. Each tab is a module of its
own: space.leaderboard_tab, space.model_tab, space.conversations, space.tabs (submit and
queue), space.about; what they say is in space.formatting. The filtered table is the one
public API endpoint, `/leaderboard`; every other event is private.

Untrusted strings (model names, licenses, failure reasons) reach the page only as text
cells, escaped Markdown, or entity-escaped plot labels (see leaderboard.links).

The maintainers' panel (space.admin_panel) is a hidden tab that only a maintainer's page shows;
its events are private and every one checks the caller on the server (space.admin).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Final

import gradio as gr
from starlette.middleware import Middleware

from evaluator.storage import DataDir, Store
from leaderboard.limits import MAX_UPLOAD_BYTES
from leaderboard.links import markdown_text
from leaderboard.query import Filters, Leaderboard
from leaderboard.store import ResultStore
from space.about import about_markdown
from space.admin import AdminAccess
from space.admin_panel import ADMIN_TAB, AdminActions, build_admin_panel, build_sign_in, wire_admin
from space.api import attach as attach_api
from space.api import mount_api
from space.conversations import build_conversations_tab, wire_conversations
from space.drilldown import build_items_tab, wire_items
from space.formatting import query_table
from space.guard import BodyLimit, QuietBlocks, SearchGate
from space.leaderboard_tab import build_leaderboard_tab, wire_leaderboard
from space.model_tab import build_model_tab
from space.sessions import install as install_lean_sessions
from space.tabs import QueueTab, SubmitOptions, build_queue_tab, build_submit_tab, wire_submit
from submissions import Settings

TITLE: Final = "Crisis-Safety Leaderboard"
# Sessions kept in memory (Gradio's default is 10,000, about 2.5 GiB for this page).
SESSION_CAPACITY: Final = 500
# Events waiting in Gradio's queue, every endpoint together (about a second of work).
QUEUE_MAX_SIZE: Final = 128
QUEUE_STATUS_S: Final = 2.0
# Gradio's queue analytics (for its monitoring page, which this Space does not enable).
QUEUE_ANALYTICS_EVENTS: Final = 500
QUEUE_ANALYTICS_EVERY: Final = 500
# Open pages re-read the results this often, so a hidden model leaves them without a reload.
REFRESH_S: Final = 30.0  # CRISIS_PAGE_REFRESH_S overrides
# The phone layout's breakpoint (the CSS below); the accordion's header is a button that toggles it.
FOLD_FILTERS_ON_PHONES: Final = """() => {
  if (!window.matchMedia("(max-width: 640px)").matches) return;
  const header = document.querySelector("#filters button.label-wrap.open");
  if (header) header.click();
}"""
CSS: Final = """
#leaderboard-table table { font-variant-numeric: tabular-nums; }
#leaderboard-table th, #leaderboard-table th * { white-space: normal !important; }
#leaderboard-table th, #leaderboard-table th * { overflow-wrap: normal; word-break: normal; }
#leaderboard-table th { vertical-align: bottom; font-size: 0.85em; }
/* Balanced header lines: "Mean / level / (1-5)" rather than "Mean / level (1- / 5)". */
#leaderboard-table th span { text-wrap: balance; }
/* Gradio sizes each column from a hidden row holding its longest value (.sizing-body, nowrap)
   and copies the widths onto the body cells: both are padded alike, so a value fits its cell
   and every column fits the table's own width at 1400 px instead of scrolling under its edge. */
#leaderboard-table .cell-wrap { padding-left: 4px; padding-right: 4px; }
#leaderboard-table table, #leaderboard-table [role=row] { font-size: 13px; }
#leaderboard-table .sizing-body td { padding: 0 1px; }
/* The model column takes what the other columns leave, 18 to 24 characters; a longer name wraps
   after a "-", never inside a word (Chrome never breaks after "/": only a part longer than the
   column breaks where it must). */
#leaderboard-table .virtual-table-viewport { container-type: inline-size; }
#leaderboard-table .sizing-body td:nth-child(2), #leaderboard-table .sizing-body td:nth-child(2) * {
  white-space: normal; overflow-wrap: anywhere;
}
#leaderboard-table .sizing-body td:nth-child(2) { width: calc(24ch + 10px); min-width: calc(18ch + 10px); }
#leaderboard-table [role=gridcell] span { word-break: normal; overflow-wrap: break-word; }
/* Phones: the ranking first (table, then its status), the selectors and filters below it. */
@media (max-width: 640px) {
  #leaderboard-table { order: -2; }
  #status, #baseline-note { order: -1; }
  #leaderboard-table table, #leaderboard-table [role=row] { font-size: 11px; }
  #leaderboard-table th { font-size: 10px; }
  #leaderboard-table [role=row], #leaderboard-table [role=row] .cell-wrap { min-height: 28px; }
  #leaderboard-table [role=row] .cell-wrap { padding-top: 4px; padding-bottom: 4px; }
  /* On the first screen the model gets what rank (5 characters), harm rate (4) and its interval
     (12) leave, however wide the phone; the columns after them scroll. */
  #leaderboard-table .sizing-body td:nth-child(2) { min-width: max(calc(17ch + 10px), calc(100cqw - 21ch - 42px)); }
  /* The model type makes room for the harm rate and its interval (by its header, not its place). */
  #leaderboard-table:has(th:nth-child(3)[title="Type"]) :is(tr, [role=row]) > :nth-child(3) { display: none; }
}
/* Figure tables (issue 23.4): headers wrap between words only, in columns wide enough for each. */
#pivot-table th, #pivot-table th *, #model-categories th, #model-categories th *,
#model-categories td, #model-categories td *, #talk-table th, #talk-table th * {
  overflow-wrap: normal !important; word-break: normal !important;
}
#model-categories th, #talk-table th, #pivot-table th { font-size: 0.85em; vertical-align: bottom; }
@media (max-width: 640px) {
  /* The model page's figure tables at a phone's size, so their longest words fit their shares. */
  :is(#model-detection, #model-refusal, #model-support, #model-metadata) :is(table, [role=row]) { font-size: 11px; }
  :is(#model-detection, #model-refusal, #model-support, #model-metadata) .cell-wrap { padding: 4px; }
}
.lb-demo { border-left: 4px solid #2563eb; padding-left: 0.6em; }
.lb-status p { margin: 0.2em 0; }
.lb-unofficial { border-left: 4px solid #d97706; padding-left: 0.6em; }
.lb-hidden { font-size: 0.85em; opacity: 0.85; }
"""


def store_status_text(store: Store | DataDir) -> str:
    line = None if isinstance(store, DataDir) else store.status_line
    return f"⚠️ {markdown_text(line)}" if line else ""


class SignInRefused(ValueError):
    """A configuration in which Gradio would mount its mock sign-in; one line."""


def sign_in_enabled(requested: bool | None = None) -> bool:
    """Whether the page signs people in: real Hugging Face OAuth, or none at all.

    Gradio mounts its real OAuth routes only on a Space (gradio.utils.get_space: SYSTEM=spaces
    and SPACE_ID); anywhere else a LoginButton brings a mock that signs every visitor in as
    the owner of this machine's HF_TOKEN, a maintainer. `requested` None: on when SPACE_ID is
    set. Sign-in wanted where Gradio would mock it raises SignInRefused.
    """
    from gradio.utils import get_space

    wanted = bool(os.environ.get("SPACE_ID")) if requested is None else requested
    if wanted and get_space() is None:
        raise SignInRefused(
            "sign-in needs a real Hugging Face Space (SPACE_ID and SYSTEM=spaces, as the Hub sets them); "
            "anywhere else Gradio mounts a mock sign-in that makes every visitor the HF_TOKEN owner: "
            "unset SPACE_ID to run without sign-in"
        )
    return wanted


def build_app(
    data_dir: Store | DataDir | str | os.PathLike[str] | None = None,
    *,
    preferred_set: str | None = None,
    enable_login: bool | None = None,
    store: ResultStore | None = None,
    submit_options: SubmitOptions | None = None,
    admin: AdminAccess | None = None,
    demo: bool | None = None,
    refresh_s: float | None = None,
) -> gr.Blocks:
    """The whole Space. `enable_login` defaults to running on a Hugging Face Space (SPACE_ID
    set): the login button talks to the Hub, which a local run or a test must not need; login
    outside a real Space is refused (`sign_in_enabled`), never mocked.
    `submit_options` lets tests give the submit tab a scripted Hub; `admin` says who may
    open the maintainers' panel (default: organisation CRISIS_ADMIN_ORG with login, the
    local admin token CRISIS_ADMIN_TOKEN without). `demo` offers the demo board (default:
    CRISIS_DEMO, on unless "0"); `refresh_s` is how often open pages re-read the results."""
    # What the page's writers (submit, queue, admin) are handed: the store, or a plain local directory.
    home: Store | DataDir
    if isinstance(data_dir, DataDir):
        home = data_dir
    elif data_dir is None or isinstance(data_dir, str | os.PathLike):
        home = DataDir.at(data_dir)
    else:
        home = data_dir
    data = home if isinstance(home, DataDir) else home.data
    store = store or ResultStore(data)
    show_demo = os.environ.get("CRISIS_DEMO", "1").strip().lower() not in ("0", "false", "no") if demo is None else demo
    board = Leaderboard(
        store, preferred_set=preferred_set or os.environ.get("CRISIS_LEADERBOARD_SET") or None, demo=show_demo
    )
    login = sign_in_enabled(enable_login)
    access = admin or AdminAccess.from_env(on_space=login)
    settings = (submit_options.settings if submit_options else None) or Settings.from_env()
    every_s = refresh_s if refresh_s is not None else float(os.environ.get("CRISIS_PAGE_REFRESH_S") or REFRESH_S)

    initial = board.query(Filters())
    initial_table = query_table(board, initial)
    current = initial.board

    with QuietBlocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 3600)) as blocks:
        gr.Markdown(
            f"# {TITLE}\n"
            "How safely do language models respond to people in a mental-health crisis? Lower harm rate "
            "is better; the rank is an interval because figures are estimates (see **About**)."
        )
        # A Hub store out of reach (or read-only) says so on every page load.
        store_status = gr.Markdown(store_status_text(home), elem_id="store-status")
        blocks.load(
            lambda: store_status_text(home), None, store_status, api_visibility="private", show_progress="hidden"
        )
        # On a phone the filters fold away under the ranking (one tap opens them); in the browser,
        # because only the browser knows the screen's width. No server call.
        blocks.load(None, None, None, js=FOLD_FILTERS_ON_PHONES)
        with gr.Tabs(selected="leaderboard") as tabs:
            with gr.Tab("Leaderboard", id="leaderboard") as lb_tab:
                lb = build_leaderboard_tab(board, initial, initial_table, current)
            with gr.Tab("Model page", id="model") as model_tab:
                mp = build_model_tab(board, current)
            with gr.Tab("Items", id="items") as items_tab:
                items = build_items_tab()
            with gr.Tab("Conversations", id="conversations"):
                talk = build_conversations_tab(board)
            with gr.Tab("Submit", id="submit") as submit_tab:
                st = build_submit_tab(home, login=login, options=submit_options)
            with gr.Tab("Queue", id="queue") as queue_tab:
                qt = build_queue_tab(home, submit_options.settings if submit_options else None)
            with gr.Tab("About", id="about") as about_tab:
                about = gr.Markdown(about_markdown(data), elem_id="about-text")
            with gr.Tab("Admin", id=ADMIN_TAB, visible=False) as admin_tab:
                panel = build_admin_panel()
        sign_in = build_sign_in(access)

        refresh = gr.Timer(every_s)
        wire_leaderboard(blocks, board, data, lb, mp, tabs, refresh)
        wire_conversations(talk, board, data)
        wire_items(items, items_tab, data)
        _wire_queue(qt, queue_tab, [lb_tab, model_tab, submit_tab, about_tab, admin_tab])
        wire_submit(st, qt, submit_tab, queue_tab, tabs)
        # A calibration report written after start-up shows without a restart.
        about_tab.select(lambda: about_markdown(data), None, about, api_visibility="private", show_progress="hidden")
        wire_admin(blocks, panel, sign_in, admin_tab, tabs, AdminActions(home, access, settings, store))
    attach_api(blocks, board)  # the REST API (space.api), mounted by launch()
    return blocks


def _wire_queue(qt: QueueTab, queue_tab: gr.Tab, other_tabs: Sequence[gr.Tab]) -> None:
    """The queue refreshes on a timer only while its tab is open: a page left on the
    leaderboard costs the server nothing."""

    def opened() -> tuple[Any, ...]:
        return (gr.Timer(active=True), *qt.refresh())

    queue_tab.select(opened, None, [qt.timer, *qt.outputs], api_visibility="private", show_progress="hidden")
    for tab in other_tabs:
        tab.select(lambda: gr.Timer(active=False), None, qt.timer, api_visibility="private")


def _bound_queue_analytics(demo: gr.Blocks) -> None:
    """Gradio's queue keeps a record of its last 10,000 events and, after every event, builds
    a pandas frame of all of them for its monitoring page (off here): at steady traffic that
    was a fifth of each call's CPU, and memory that grew with the calls. Keep few records and
    summarise them rarely; the page and the API do not read them."""
    queue = demo._queue
    queue.ANALYTICS_MAX_EVENTS = QUEUE_ANALYTICS_EVENTS
    queue.ANAYLTICS_CACHE_FREQUENCY = QUEUE_ANALYTICS_EVERY  # sic: Gradio's own spelling


def launch(demo: gr.Blocks, **kwargs: Any) -> Any:
    """Launch with the app's stylesheet; server address from GRADIO_SERVER_NAME/PORT."""
    kwargs.setdefault("server_name", os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1")
    kwargs.setdefault("server_port", int(os.environ.get("GRADIO_SERVER_PORT") or 7860))
    kwargs.setdefault("css", CSS)
    kwargs.setdefault("footer_links", ["api"])
    # A public Space: every API call through Gradio is a new session, so keep few of them.
    kwargs.setdefault("state_session_capacity", SESSION_CAPACITY)
    # The page has no upload component: uploads and request bodies are bounded (issue 10.3).
    kwargs.setdefault("max_file_size", MAX_UPLOAD_BYTES)
    app_kwargs = dict(kwargs.get("app_kwargs") or {})
    # Outermost first: bodies are bounded before the search gate reads one.
    app_kwargs["middleware"] = [
        *app_kwargs.get("middleware", ()),
        Middleware(BodyLimit),
        Middleware(SearchGate, blocks=demo),
    ]
    kwargs["app_kwargs"] = app_kwargs
    # A bounded backlog: a flood of queued calls is refused ("Queue is full") instead of
    # buying minutes of CPU that outlive its senders (issue 10.1). Queue positions go to
    # waiting clients every QUEUE_STATUS_S, not to each of them whenever any event starts.
    demo.queue(default_concurrency_limit=4, max_size=QUEUE_MAX_SIZE, status_update_rate=QUEUE_STATUS_S)
    _bound_queue_analytics(demo)
    block = not kwargs.get("prevent_thread_lock", False)
    kwargs["prevent_thread_lock"] = True
    launched = demo.launch(**kwargs)
    install_lean_sessions(demo)  # a call of /leaderboard no longer renders every block (space.sessions)
    mount_api(demo)  # the REST API at /api/v1 on the same server (space.api)
    if block:
        demo.block_thread()
    return launched


__all__ = [
    "CSS",
    "TITLE",
    "SignInRefused",
    "build_app",
    "launch",
    "sign_in_enabled",
]
