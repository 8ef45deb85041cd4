"""Errors of the submissions package. Every message is one line a user can act on."""

from __future__ import annotations


class SubmissionError(ValueError):
    """Bad input or a refused action; the CLI prints the message and exits with code 2."""


class SubmissionRejected(SubmissionError):
    """A submission failed a validation check; nothing was written."""

    def __init__(self, reason: str, check: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.check = check


class HubUnavailable(SubmissionRejected):
    """The Hub could not be asked; a temporary condition, not the submitter's fault."""

    def __init__(self, reason: str = "cannot reach the Hugging Face Hub; try again later") -> None:
        super().__init__(reason, "hub")


class UnknownRequest(SubmissionError):
    """No request with that id."""


class NotAllowed(SubmissionError):
    """The caller may not do this (not the submitter, not a maintainer)."""


class InvalidTransition(SubmissionError):
    """The request is not in a state that allows this action."""


class LeaseLost(SubmissionError):
    """The worker no longer holds the request: its lease expired and moved on, or it was cancelled."""
