"""The evaluation queue: claim with a lease, heartbeat, finish or fail, and recovery.

PENDING ──claim──► RUNNING ──finish──► FINISHED
   ▲                  │ ├──fail──────► FAILED (reason, error class)
   │                  │ └──cancel────► CANCELLED
   └──release/reclaim─┘   (reclaim: lease expired; FAILED once the attempts are used up)

PENDING_APPROVAL ──approve──► PENDING      PENDING_APPROVAL ──reject──► REJECTED
FAILED | CANCELLED ──retry (maintainers)──► PENDING

A claim is a lease: the record names the worker and when its claim lapses, and the worker
extends it with heartbeats. `attempts` counts claims; a worker that is shut down cleanly
hands its attempt back on release, so only crashes and failures use attempts up.
Every change is one `RequestStore.update`, so all of this holds across processes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from evaluator.storage import DataDir, Store
from submissions.config import Settings
from submissions.errors import InvalidTransition, LeaseLost, NotAllowed, SubmissionError, UnknownRequest
from submissions.records import ACTIVE_OR_DONE, RequestRecord, Status, one_line, utcnow
from submissions.store import Busy, HubRequestStore, RequestStore, request_store_for

Clock = Callable[[], datetime]
Accept = Callable[[RequestRecord], bool]

HUB_LEASE_S: Final = 1800.0

LEASE_EXPIRED = "LeaseExpired"


@dataclass(frozen=True)
class Lease:
    """A worker's hold on one request; `attempt` tells this claim apart from later ones."""

    request_id: str
    worker: str
    attempt: int
    expires_at: datetime


@dataclass(frozen=True)
class Reclaimed:
    request_id: str
    status: Status  # PENDING again, or FAILED when out of attempts


def lease_expired_reason(attempt: int, max_attempts: int) -> str:
    return (
        f"the worker evaluating this model stopped responding and its claim expired "
        f"(attempt {attempt} of {max_attempts})"
    )


class Queue:
    def __init__(
        self,
        store: RequestStore,
        *,
        lease_s: float = 600.0,
        max_attempts: int = 3,
        clock: Clock = utcnow,
    ) -> None:
        if lease_s <= 0 or max_attempts < 1:
            raise ValueError("lease_s must be positive and max_attempts at least 1")
        self.store = store
        self.lease = timedelta(seconds=lease_s)
        self.max_attempts = max_attempts
        self.clock = clock

    @classmethod
    def local(cls, store: Store | DataDir, settings: Settings | None = None, *, clock: Clock = utcnow) -> Queue:
        """The queue of a store: a local home's own files (a plain DataDir is one), or the Hub's
        requests repo (hand the HubStore, not its mirror).

        On the Hub every heartbeat is a commit, so unless $CRISIS_LEASE_S says otherwise
        leases last HUB_LEASE_S and heartbeats (a third of it) come every ten minutes.
        """
        s = settings or Settings.from_env()
        requests = request_store_for(store)
        lease_s = s.lease_s
        if isinstance(requests, HubRequestStore) and not os.environ.get("CRISIS_LEASE_S"):
            lease_s = HUB_LEASE_S
        return cls(requests, lease_s=lease_s, max_attempts=s.max_attempts, clock=clock)

    # ----------------------------------------------------------------------------- reading

    def get(self, request_id: str) -> RequestRecord:
        return self.store.get(request_id)

    def records(self) -> list[RequestRecord]:
        """All requests: the queue in claim order first, then the rest, newest first."""
        everything = self.store.all()
        pending = sorted((r for r in everything if r.status == Status.PENDING), key=lambda r: r.order_key)
        rest = sorted((r for r in everything if r.status != Status.PENDING), key=lambda r: r.submitted_at)
        return pending + rest[::-1]

    def unreadable(self) -> list[str]:
        """Record files the last listing could not read ("requests/NAME: why"), for lists, logs and the admin panel."""
        return self.store.unreadable()

    def positions(self, records: Sequence[RequestRecord] | None = None) -> dict[str, int]:
        """1-based place in the queue of every PENDING request (1 = claimed next)."""
        pool = self.store.all() if records is None else records
        pending = sorted((r for r in pool if r.status == Status.PENDING), key=lambda r: r.order_key)
        return {r.id: n for n, r in enumerate(pending, start=1)}

    def position(self, request_id: str) -> int | None:
        return self.positions().get(request_id)

    # --------------------------------------------------------------------------- the worker

    def claim(self, worker: str, accept: Accept | None = None) -> Lease | None:
        """Take the next PENDING request (that `accept` takes), or None when there is nothing to take.

        Requests another worker is touching at this instant are skipped rather than waited
        for: that worker is most likely claiming them.
        """
        for request_id in self.store.queued_ids():
            now = self.clock()
            expires = now + self.lease

            def take(record: RequestRecord, now: datetime = now, expires: datetime = expires) -> RequestRecord | None:
                if record.status != Status.PENDING or (accept is not None and not accept(record)):
                    return None
                attempt = record.attempts + 1
                return record.moved(
                    Status.RUNNING,
                    now,
                    note=f"claimed by {worker} (attempt {attempt} of {self.max_attempts})",
                    attempts=attempt,
                    worker=worker,
                    lease_expires_at=expires,
                    started_at=now,
                    finished_at=None,
                )

            try:
                record = self.store.update(request_id, take, wait=False)
            except (Busy, UnknownRequest):
                continue
            if record is not None:
                return Lease(record.id, worker, record.attempts, expires)
        return None

    def _held(self, lease: Lease, record: RequestRecord) -> None:
        if record.status != Status.RUNNING or record.worker != lease.worker or record.attempts != lease.attempt:
            raise LeaseLost(f"request {lease.request_id} is no longer held by {lease.worker} (now {record.status})")

    def heartbeat(self, lease: Lease, progress: str | None = None) -> Lease:
        """Extend the lease (and publish progress); LeaseLost if cancelled or taken over."""
        now = self.clock()
        expires = now + self.lease

        def extend(record: RequestRecord) -> RequestRecord:
            self._held(lease, record)
            changes: dict[str, object] = {"lease_expires_at": expires, "updated_at": now}
            if progress is not None:
                changes["progress"] = progress
            return record.model_copy(update=changes)

        self.store.update(lease.request_id, extend)
        return Lease(lease.request_id, lease.worker, lease.attempt, expires)

    def finish(
        self,
        lease: Lease,
        run_id: str,
        *,
        set_name: str | None = None,
        set_version: str | None = None,
        persona_set: str | None = None,
        persona_version: str | None = None,
    ) -> RequestRecord:
        now = self.clock()

        def done(record: RequestRecord) -> RequestRecord:
            self._held(lease, record)
            changes: dict[str, object] = {"run_id": run_id}
            if set_name:
                changes["set_name"] = set_name
            if set_version:
                changes["set_version"] = set_version
            if persona_set and persona_version:  # where the conversation track ran
                changes["persona_set"], changes["persona_version"] = persona_set, persona_version
            return record.moved(
                Status.FINISHED,
                now,
                note=f"finished by {lease.worker} (run {run_id})",
                finished_at=now,
                worker=None,
                lease_expires_at=None,
                reason=None,
                error_class=None,
                **changes,
            )

        return self._written(self.store.update(lease.request_id, done))

    def fail(self, lease: Lease, reason: str, error_class: str, *, retry: bool = False) -> RequestRecord:
        """FAILED with a reason; with retry=True, back to PENDING while attempts remain."""
        now = self.clock()
        text = one_line(reason)

        def failed(record: RequestRecord) -> RequestRecord:
            self._held(lease, record)
            common = {"worker": None, "lease_expires_at": None, "reason": text, "error_class": error_class}
            if retry and record.attempts < self.max_attempts:
                return record.moved(Status.PENDING, now, note=f"will be retried: {text}", **common)
            return record.moved(Status.FAILED, now, note=text, finished_at=now, **common)

        return self._written(self.store.update(lease.request_id, failed))

    def release(self, lease: Lease, note: str = "the worker shut down; returned to the queue") -> RequestRecord:
        """Give the request back untouched (clean shutdown): PENDING, and the attempt is not counted."""
        now = self.clock()

        def give_back(record: RequestRecord) -> RequestRecord:
            self._held(lease, record)
            return record.moved(
                Status.PENDING,
                now,
                note=note,
                attempts=max(0, record.attempts - 1),
                worker=None,
                lease_expires_at=None,
            )

        return self._written(self.store.update(lease.request_id, give_back))

    def reclaim_expired(self) -> list[Reclaimed]:
        """Return requests whose worker stopped heart-beating to the queue, or fail them."""
        out: list[Reclaimed] = []
        for request_id in self.store.running_ids():
            now = self.clock()

            def recover(record: RequestRecord, now: datetime = now) -> RequestRecord | None:
                if record.status != Status.RUNNING:
                    return None
                if record.lease_expires_at is not None and record.lease_expires_at > now:
                    return None
                reason = lease_expired_reason(record.attempts, self.max_attempts)
                common = {"worker": None, "lease_expires_at": None, "reason": reason, "error_class": LEASE_EXPIRED}
                if record.attempts >= self.max_attempts:
                    return record.moved(Status.FAILED, now, note=reason, finished_at=now, **common)
                return record.moved(Status.PENDING, now, note=reason, **common)

            try:
                # Not waiting: whoever holds the record is its worker heart-beating or another
                # reclaimer, and the next pass looks again anyway.
                record = self.store.update(request_id, recover, wait=False)
            except (Busy, UnknownRequest):
                continue
            if record is not None:
                out.append(Reclaimed(record.id, record.status))
        return out

    # ------------------------------------------------------------------- people's actions

    def cancel(
        self, request_id: str, *, user: str, maintainer: bool = False, reason: str | None = None
    ) -> RequestRecord:
        now = self.clock()
        text = one_line(reason) if reason else f"cancelled by {'a maintainer' if maintainer else 'the submitter'}"

        def cancelled(record: RequestRecord) -> RequestRecord:
            if not maintainer and record.submitter.casefold() != user.casefold():
                raise NotAllowed(f"only the submitter ({record.submitter}) or a maintainer can cancel {record.id}")
            if record.status not in (Status.PENDING_APPROVAL, Status.PENDING, Status.RUNNING):
                raise InvalidTransition(
                    f"request {record.id} is {record.status}; only a queued or running one can be cancelled"
                )
            return record.moved(
                Status.CANCELLED,
                now,
                note=text,
                reason=text,
                error_class=None,
                finished_at=now,
                worker=None,
                lease_expires_at=None,
            )

        return self._written(self.store.update(request_id, cancelled))

    def retry(self, request_id: str, *, maintainer: bool) -> RequestRecord:
        """Maintainers: put a FAILED or CANCELLED request back in the queue with fresh attempts."""
        if not maintainer:
            raise NotAllowed("only maintainers can retry a request")
        target = self.store.get(request_id)
        self._refuse_duplicate(target)
        now = self.clock()

        def again(record: RequestRecord) -> RequestRecord:
            if record.status not in (Status.FAILED, Status.CANCELLED):
                raise InvalidTransition(
                    f"request {record.id} is {record.status}; only a failed or cancelled one can be retried"
                )
            return record.moved(
                Status.PENDING,
                now,
                note="retried by a maintainer",
                attempts=0,
                reason=None,
                error_class=None,
                finished_at=None,
                run_id=None,
            )

        return self._written(self.store.update(request_id, again))

    def approve(self, request_id: str, *, maintainer: bool, priority: int | None = None) -> RequestRecord:
        """Maintainers: let a requested API model into the queue."""
        if not maintainer:
            raise NotAllowed("only maintainers can approve an API model")
        now = self.clock()

        def approved(record: RequestRecord) -> RequestRecord:
            if record.status != Status.PENDING_APPROVAL:
                raise InvalidTransition(f"request {record.id} is {record.status}, not waiting for approval")
            extra = {} if priority is None else {"priority": priority}
            return record.moved(Status.PENDING, now, note="approved by a maintainer", **extra)

        return self._written(self.store.update(request_id, approved))

    def reject(self, request_id: str, *, maintainer: bool, reason: str) -> RequestRecord:
        if not maintainer:
            raise NotAllowed("only maintainers can reject an API model request")
        text = one_line(reason)
        if not text:
            raise SubmissionError("a rejection needs a reason the requester can read")
        now = self.clock()

        def rejected(record: RequestRecord) -> RequestRecord:
            if record.status != Status.PENDING_APPROVAL:
                raise InvalidTransition(f"request {record.id} is {record.status}, not waiting for approval")
            return record.moved(Status.REJECTED, now, note=text, reason=text, error_class="Rejected", finished_at=now)

        return self._written(self.store.update(request_id, rejected))

    def _refuse_duplicate(self, target: RequestRecord) -> None:
        for other in self.store.all():
            if (
                other.id != target.id
                and other.status in ACTIVE_OR_DONE
                and other.identity == target.identity
                and other.set_version == target.set_version
            ):
                raise InvalidTransition(f"request {other.id} already covers this model ({other.status})")

    @staticmethod
    def _written(record: RequestRecord | None) -> RequestRecord:
        if record is None:  # every change above returns a record or raises
            raise RuntimeError("update wrote nothing")
        return record
