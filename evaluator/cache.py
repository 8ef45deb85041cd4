"""Generation and judge cache (PROTOCOL section 5; ARCHITECTURE.md cache/, private).

Keys (PROTOCOL version 3, section 5): judge calls on (judge id, prompt hash, item content
hash, reply hash), where the prompt hash covers the judge's generation settings, so a re-run
or a re-aggregation costs nothing and a new rubric or setting re-judges without
regenerating; generations on (model, revision, parameters, conversation content) and only
when decoding is reproducible. Item ids are unique only within a set, so no key holds an id:
two sets that reuse an id for different items never share an entry. SQLite in WAL mode, so
several worker processes can share it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Final, TypeVar

import orjson

from evaluator.backends.base import Backend, Conversation, GenerationParams, ModelInfo, OnReply, Reply
from evaluator.items import Item, sha256_json
from evaluator.judge.verdict import Judge, Judgement, JudgeTask, OnJudgement


def _digest(parts: Sequence[Any]) -> str:
    blob = json.dumps(list(parts), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def generation_key(info: ModelInfo, params: GenerationParams, messages: Sequence[Mapping[str, str]]) -> str:
    return _digest(
        ["gen", info.spec, info.revision, info.details.get("base_url"), params.key(), [dict(m) for m in messages]]
    )


def item_content_hash(item: Item) -> str:
    """Everything the judge sees of an item (category, signal, track, turns, domain, locale,
    age group, notes) and nothing that names it: its id is unique only within a set."""
    content = item.to_json()
    del content["id"]
    return sha256_json(content)


def judgement_key(judge_id: str, prompt_hash: str, item_hash: str, reply_hash: str) -> str:
    """`item_hash` is a content hash of the item (item_content_hash), never its id alone."""
    return _digest(["judge", judge_id, prompt_hash, item_hash, reply_hash])


def _keys(fixed: Sequence[Any], varying: Sequence[Sequence[Any]]) -> list[str]:
    """_digest(fixed + v) for each v, with the fixed part serialised once: a JSON list is
    its elements joined by commas, so the digests are exactly generation_key's."""
    head = json.dumps(list(fixed), sort_keys=True, ensure_ascii=False, separators=(",", ":"))[:-1] + ","
    dumps = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode
    return [hashlib.sha256((head + dumps(list(v))[1:]).encode("utf-8")).hexdigest() for v in varying]


def generation_keys(
    info: ModelInfo, params: GenerationParams, conversations: Sequence[Sequence[Mapping[str, str]]]
) -> list[str]:
    """generation_key for every conversation of one stage (the model and parameters are fixed)."""
    fixed = ["gen", info.spec, info.revision, info.details.get("base_url"), params.key()]
    return _keys(fixed, [[[dict(m) for m in messages]] for messages in conversations])


def judgement_keys(judge_id: str, prompt_hash: str, pairs: Sequence[tuple[str, str]]) -> list[str]:
    """judgement_key for every (item content hash, reply hash) of one judge's stage."""
    return _keys(["judge", judge_id, prompt_hash], pairs)


# Writes are committed together, one transaction per this many entries or seconds: a cache
# entry lost to a crash only costs a recomputation, and the run directory holds the run.
BATCH_ENTRIES: Final = 256
BATCH_SECONDS: Final = 1.0


class Cache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._pending: dict[str, str] = {}
        self._committed_at = time.monotonic()
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # A lost cache entry after a power cut only costs a recomputation.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def _get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            self._commit()
            row = self._db.execute("SELECT value FROM entries WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def _get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        with self._lock:
            self._commit()
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                for key, value in self._db.execute(f"SELECT key, value FROM entries WHERE key IN ({marks})", chunk):
                    found[key] = orjson.loads(value)
        return found

    def _put(self, key: str, value: Mapping[str, Any]) -> None:
        blob = orjson.dumps(value).decode("utf-8")
        with self._lock:
            self._pending[key] = blob
            if len(self._pending) >= BATCH_ENTRIES or time.monotonic() - self._committed_at >= BATCH_SECONDS:
                self._commit()

    def _commit(self) -> None:
        """Write the pending entries in one transaction (caller holds the lock)."""
        self._committed_at = time.monotonic()
        if not self._pending:
            return
        entries, self._pending = list(self._pending.items()), {}
        with self._db:  # BEGIN ... COMMIT, rolled back on error
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO entries (key, value) VALUES (?, ?)", entries)

    def flush(self) -> None:
        """Commit what is pending (the pipeline calls this at the end of every stage)."""
        with self._lock:
            self._commit()

    def get_replies(self, keys: Sequence[str]) -> dict[str, Reply]:
        return {k: Reply.from_json(v) for k, v in self._get_many(keys).items()}

    def put_reply(self, key: str, reply: Reply) -> None:
        if reply.ok:  # failures are retried next time, never served from the cache
            self._put(key, reply.to_json())

    def get_judgements(self, keys: Sequence[str]) -> dict[str, Judgement]:
        # Entries written before unscored outcomes stopped being cached must not keep a
        # broken judge's junk alive after the judge is fixed.
        found = {k: Judgement.from_json(v) for k, v in self._get_many(keys).items()}
        return {k: j for k, j in found.items() if j.scored}

    def put_judgement(self, key: str, judgement: Judgement) -> None:
        # Only verdicts are final: an unparsable answer may come from a judge that is broken
        # today and fixed tomorrow, so it is asked again rather than served from the cache.
        if judgement.final and judgement.scored:
            self._put(key, judgement.to_json())

    def get_records(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Other final outcomes stored as JSON objects (conversation verdicts), by key."""
        return self._get_many(keys)

    def put_record(self, key: str, value: Mapping[str, Any]) -> None:
        self._put(key, value)

    def close(self) -> None:
        with self._lock:
            self._commit()
            self._db.close()


T = TypeVar("T")


def answer_through_cache(
    cache: Cache,
    size: int,
    hits: Mapping[int, T],
    call: Callable[[list[int], Callable[[int, T], None]], Sequence[T]],
    store: Callable[[int, T], None],
    on_result: Callable[[int, T], None] | None = None,
) -> list[T | None]:
    """The one caching loop of the wrappers: `size` answers, the `hits` (position -> cached)
    first, then one `call` for the positions missing, each answer stored as it arrives.

    `call(pending, stored)` asks the wrapped backend or judge about the pending positions in
    order and returns its answers; it may report each one early through `stored(position in
    pending, answer)`. Whatever it returns without having reported it is stored then, so a
    wrapped part with no callback is cached too. `store(position, answer)` decides what is
    worth keeping (a success, a final verdict). What was stored is committed even when the
    call fails half-way: finished work is never asked for twice. A position the call left
    unanswered is None."""
    results: list[T | None] = [None] * size
    for n in sorted(hits):
        results[n] = hits[n]
        if on_result is not None:
            on_result(n, hits[n])
    pending = [n for n, found in enumerate(results) if found is None]

    def stored(position: int, answer: T) -> None:
        n = pending[position]
        results[n] = answer
        store(n, answer)
        if on_result is not None:
            on_result(n, answer)

    try:
        if pending:
            got = call(pending, stored)
            for position, answer in enumerate(got):
                if results[pending[position]] is None:
                    stored(position, answer)
    finally:
        cache.flush()
    return results


class CachingBackend:
    """A backend that answers from the cache what it answered before (PROTOCOL section 5).

    Keys are generation_keys (model, revision, endpoint, settings, conversation content);
    only reproducible (greedy) decoding is cached, and only replies that succeeded. Every
    other attribute is the wrapped backend's (bind, has_detection...)."""

    def __init__(self, backend: Backend, cache: Cache) -> None:
        self.backend = backend
        self.cache = cache
        # The misses of the last `recall`: a stage that recalls and then generates the rest
        # hands over the same conversation objects, which are not hashed or looked up twice.
        self._missed: tuple[str, list[Conversation], list[str]] = ("", [], [])

    def __getattr__(self, name: str) -> Any:
        if name in ("backend", "cache"):  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.backend, name)

    @property
    def info(self) -> ModelInfo:
        return self.backend.info

    def _keys(self, conversations: Sequence[Conversation], params: GenerationParams) -> list[str]:
        return generation_keys(self.backend.info, params, conversations)

    def recall(self, conversations: Sequence[Conversation], params: GenerationParams) -> dict[int, Reply]:
        """Position -> the cached reply, for the conversations answered before (no call)."""
        if not params.deterministic or not conversations:
            return {}
        keys = self._keys(conversations, params)
        hits = self.cache.get_replies(keys)
        missed = [n for n, key in enumerate(keys) if key not in hits]
        self._missed = (params.key(), [conversations[n] for n in missed], [keys[n] for n in missed])
        return {n: hits[key] for n, key in enumerate(keys) if key in hits}

    def _known_misses(self, conversations: Sequence[Conversation], params: GenerationParams) -> list[str] | None:
        params_key, missed, keys = self._missed
        same = params_key == params.key() and len(missed) == len(conversations)
        if same and all(a is b for a, b in zip(missed, conversations, strict=True)):
            return keys
        return None

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams, on_reply: OnReply | None = None
    ) -> list[Reply]:
        known = self._known_misses(conversations, params) if params.deterministic else None
        self._missed = ("", [], [])
        keys = known if known is not None else self._keys(conversations, params) if params.deterministic else []
        found = self.cache.get_replies(keys) if keys and known is None else {}
        replies = answer_through_cache(
            self.cache,
            len(conversations),
            {n: found[key] for n, key in enumerate(keys) if key in found},
            lambda pending, stored: self.backend.generate([conversations[n] for n in pending], params, stored),
            (lambda n, reply: self.cache.put_reply(keys[n], reply)) if keys else (lambda n, reply: None),
            on_reply,
        )
        return [r if r is not None else Reply.failed("BackendError: no reply") for r in replies]

    def close(self) -> None:
        self.backend.close()


class CachingJudge:
    """A judge that answers from the cache what it ruled before (PROTOCOL section 5).

    Keys are judgement_keys (judge id, prompt hash with its settings, item content hash,
    reply hash): never an item id, so an entry written under one set's id serves the same
    content under another id, renamed. Only verdicts are stored; every other attribute is
    the wrapped judge's (temperature, max_tokens, close...)."""

    def __init__(self, judge: Judge, cache: Cache) -> None:
        self.inner = judge
        self.cache = cache

    def __getattr__(self, name: str) -> Any:
        if name in ("inner", "cache"):  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def id(self) -> str:
        return self.inner.id

    @property
    def prompt_hash(self) -> str:
        return self.inner.prompt_hash

    @property
    def family(self) -> str | None:
        return self.inner.family

    @property
    def official(self) -> bool:
        return self.inner.official

    def _keys(self, tasks: Sequence[JudgeTask]) -> list[str]:
        return judgement_keys(self.id, self.prompt_hash, [(item_content_hash(t.item), t.reply_hash) for t in tasks])

    def recall(self, tasks: Sequence[JudgeTask]) -> dict[int, Judgement]:
        """Position -> the cached verdict under this task's item id (no call)."""
        return self._recall(tasks, self._keys(tasks)) if tasks else {}

    def _recall(self, tasks: Sequence[JudgeTask], keys: Sequence[str]) -> dict[int, Judgement]:
        if not tasks:
            return {}
        hits = self.cache.get_judgements(keys)
        # The entry may come from the same content under another id (another set).
        return {n: replace(hits[key], item_id=tasks[n].item.id) for n, key in enumerate(keys) if key in hits}

    def judge(self, tasks: Sequence[JudgeTask], on_result: OnJudgement | None = None) -> list[Judgement]:
        keys = self._keys(tasks)  # hashed once: the look-up and the stores share them
        results = answer_through_cache(
            self.cache,
            len(tasks),
            self._recall(tasks, keys),
            lambda pending, stored: self.inner.judge([tasks[n] for n in pending], stored),
            lambda n, judgement: self.cache.put_judgement(keys[n], judgement),
            on_result,
        )
        return [j for j in results if j is not None]
