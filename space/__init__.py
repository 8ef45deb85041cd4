"""The Gradio Space: shows what leaderboard/ computes and what submissions/ records."""

from space.app import CSS, build_app, launch

__all__ = ["CSS", "build_app", "launch"]
