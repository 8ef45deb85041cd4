"""Submit and queue tabs (placeholder until built against submissions/)."""

from __future__ import annotations

import gradio as gr

from evaluator.storage import DataDir


def build_submit_tab(data: DataDir, *, login: bool) -> None:
    gr.Markdown("Submissions open soon.")


def build_queue_tab(data: DataDir) -> None:
    gr.Markdown("The queue appears here soon.")
