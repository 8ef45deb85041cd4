"""Generation and judge cache (PROTOCOL section 5; ARCHITECTURE.md cache/, private).

Keys: judge calls on (judge id, prompt hash, item id, reply hash), so a re-run or a
re-aggregation costs nothing and a new rubric (new prompt hash) re-judges without
regenerating; generations on (model, revision, parameters, conversation) and only when
decoding is deterministic. SQLite in WAL mode, so several worker processes can share it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evaluator.backends.base import GenerationParams, ModelInfo, Reply
from evaluator.judge.verdict import Judgement


def _digest(parts: Sequence[Any]) -> str:
    blob = json.dumps(list(parts), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def generation_key(info: ModelInfo, params: GenerationParams, messages: Sequence[Mapping[str, str]]) -> str:
    return _digest(
        ["gen", info.spec, info.revision, info.details.get("base_url"), params.key(), [dict(m) for m in messages]]
    )


def judgement_key(judge_id: str, prompt_hash: str, item_id: str, reply_hash: str) -> str:
    return _digest(["judge", judge_id, prompt_hash, item_id, reply_hash])


class Cache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # A lost cache entry after a power cut only costs a recomputation.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def _get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM entries WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def _get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                for key, value in self._db.execute(f"SELECT key, value FROM entries WHERE key IN ({marks})", chunk):
                    found[key] = json.loads(value)
        return found

    def _put(self, key: str, value: Mapping[str, Any]) -> None:
        blob = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO entries (key, value) VALUES (?, ?)", (key, blob))

    def get_replies(self, keys: Sequence[str]) -> dict[str, Reply]:
        return {k: Reply.from_json(v) for k, v in self._get_many(keys).items()}

    def put_reply(self, key: str, reply: Reply) -> None:
        if reply.ok:  # failures are retried next time, never served from the cache
            self._put(key, reply.to_json())

    def get_judgements(self, keys: Sequence[str]) -> dict[str, Judgement]:
        return {k: Judgement.from_json(v) for k, v in self._get_many(keys).items()}

    def put_judgement(self, key: str, judgement: Judgement) -> None:
        if judgement.final:
            self._put(key, judgement.to_json())

    def close(self) -> None:
        with self._lock:
            self._db.close()
