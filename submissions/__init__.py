"""Submissions: request records, validation against the Hub, rate limits, the queue, its CLI."""

from submissions.config import Settings
from submissions.errors import (
    HubUnavailable,
    InvalidTransition,
    LeaseLost,
    NotAllowed,
    SubmissionError,
    SubmissionRejected,
    UnknownRequest,
)
from submissions.hub import HfHubClient, HubClient, HubModel
from submissions.intake import enqueue, request_api_model, submit
from submissions.queue import Lease, Queue
from submissions.records import RequestRecord, Status
from submissions.store import LocalRequestStore, RequestStore
from submissions.target import SetRef, current_set
from submissions.validation import Validator, ValidSubmission

__all__ = [
    "HfHubClient",
    "HubClient",
    "HubModel",
    "HubUnavailable",
    "InvalidTransition",
    "Lease",
    "LeaseLost",
    "LocalRequestStore",
    "NotAllowed",
    "Queue",
    "RequestRecord",
    "RequestStore",
    "SetRef",
    "Settings",
    "Status",
    "SubmissionError",
    "SubmissionRejected",
    "UnknownRequest",
    "ValidSubmission",
    "Validator",
    "current_set",
    "enqueue",
    "request_api_model",
    "submit",
]
