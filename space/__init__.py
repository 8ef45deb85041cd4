"""The Gradio Space: shows what leaderboard/ computes and what submissions/ records."""

from space.admin import AdminAccess
from space.app import CSS, build_app, launch

__all__ = ["CSS", "AdminAccess", "build_app", "launch"]
