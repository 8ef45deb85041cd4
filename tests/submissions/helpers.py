"""Building request records directly, for queue tests that do not care about validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from submissions.records import RequestRecord, Status


def make_record(n: int, *, at: datetime | None = None, **changes: Any) -> RequestRecord:
    moment = at or datetime(2025, 3, 1, 12, 0, tzinfo=UTC) + timedelta(seconds=n)
    fields: dict[str, Any] = {
        "id": f"req-{n:05d}",
        "model": f"org/model-{n}",
        "model_type": "open-weight",
        "spec": f"hf:org/model-{n}@{n:040x}",
        "sha": f"{n:040x}",
        "revision": "main",
        "submitter": "alice",
        "set_name": "heldout",
        "set_version": "v1",
        "status": Status.PENDING,
        "submitted_at": moment,
        "updated_at": moment,
    }
    fields.update(changes)
    return RequestRecord.model_validate(fields)
