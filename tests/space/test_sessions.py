"""Gradio sessions built on demand (space.sessions, issue 11): a stateless call keeps nothing."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import httpx
from gradio.state_holder import SessionState

from evaluator.storage import DataDir
from space.app import build_app
from space.sessions import LeanSessionState, LeanStateHolder
from tests.space.conftest import Served, leaderboard_values


def test_a_lean_session_has_every_attribute_of_a_gradio_session(tmp_path: Path) -> None:
    demo = build_app(DataDir.at(tmp_path / "var"), enable_login=False)
    full, lean = SessionState(demo), LeanSessionState(demo)
    # A Gradio upgrade that gives sessions a new attribute must fail here, not in a request.
    assert set(vars(full)) <= set(vars(lean))
    assert full.config_values and not lean.config_values  # nothing rendered up front


def test_a_component_update_is_kept_and_rendered_when_asked(tmp_path: Path) -> None:
    demo = build_app(DataDir.at(tmp_path / "var"), enable_login=False)
    lean = LeanSessionState(demo)
    dropdown = next(b for b in demo.blocks.values() if isinstance(b, gr.Dropdown) and b.elem_id == "category")
    lean[dropdown._id] = gr.Dropdown(choices=["overall", "only-here"], value="overall", render=False)
    assert lean[dropdown._id].choices == [("overall", "overall"), ("only-here", "only-here")]
    assert demo.blocks[dropdown._id].choices != lean[dropdown._id].choices  # the page's own block is untouched
    rendered = {c["id"]: c for c in lean.components}
    assert set(rendered) == {k for k in lean.blocks_config.blocks if k in demo.blocks}
    assert ("only-here", "only-here") in rendered[dropdown._id]["props"]["choices"]


def test_stateless_api_calls_render_and_keep_no_session_state(served: Served) -> None:
    holder = served.demo.app.state_holder
    assert isinstance(holder, LeanStateHolder)
    before = set(holder.session_data)
    with httpx.Client(base_url=served.url, timeout=60) as http:
        for search in ("acme", "org", "safe", "risky", "api"):
            posted = http.post("gradio_api/call/leaderboard", json={"data": leaderboard_values(search)})
            posted.raise_for_status()
            stream = http.get(f"gradio_api/call/leaderboard/{posted.json()['event_id']}")
            assert "event: complete" in stream.text
    new = [holder.session_data[s] for s in set(holder.session_data) - before]
    assert len(new) == 5
    for session in new:
        assert isinstance(session, LeanSessionState)
        assert session.config_values == {} and session.state_data == {}


def test_gradios_queue_analytics_are_bounded(served: Served) -> None:
    from gradio.queueing import Queue

    from space.app import QUEUE_ANALYTICS_EVENTS, QUEUE_ANALYTICS_EVERY

    queue = served.demo._queue
    assert isinstance(queue, Queue)
    # The attributes Gradio reads (a Gradio upgrade that renames them must fail here).
    assert queue.ANALYTICS_MAX_EVENTS == QUEUE_ANALYTICS_EVENTS
    assert queue.ANAYLTICS_CACHE_FREQUENCY == QUEUE_ANALYTICS_EVERY
    fresh = Queue(False, 1, 1, None, served.demo, 1)
    assert {"ANALYTICS_MAX_EVENTS", "ANAYLTICS_CACHE_FREQUENCY", "event_analytics"} <= set(vars(fresh))
    assert len(queue.event_analytics) <= QUEUE_ANALYTICS_EVENTS
