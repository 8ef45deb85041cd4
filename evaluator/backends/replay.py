"""`replay:FILE`: replies that already exist (a paper's, a provider's logs), scored as if generated.

The file is JSONL, one `{"item_id": ..., "reply": ...[, "detection": ...]}` per line. The
replies go through the same judge and metrics as a live model's. A backend sees only
conversations, so the pipeline binds the item set first (`bind`) and each conversation is
matched to its item by content.

- An item with no line in the file fails with the reason, never with a default reply; a
  detection conversation fails the same way when its line has no `detection`. A file with no
  `detection` on any line runs without the detection prompt (`has_detection`): its
  detection figures are null, not a failure per item that no retry can mend.
- How the replies were generated is not known: their rows record the generation
  parameters as unknown (`recorded_generation`) and their token counts as missing.
- Replaying on a private (held-out) set is for maintainers only: a replay file is written
  by whoever holds it, and scoring it against held-out items would let anyone probe them.
  A public set (a manifest saying so, as `evaluator import --public` writes) needs nobody.
- The file is bounded (size, line length, lines) before any of it is parsed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final

from evaluator.backends.base import BackendError, Conversation, GenerationParams, ModelInfo, OnReply, Reply
from evaluator.protocol.detection import detection_messages
from evaluator.storage import JsonLineError, iter_jsonl

if TYPE_CHECKING:
    from evaluator.items import ItemSet

MAX_REPLAY_BYTES: Final = 64 * 1024 * 1024
MAX_LINE_BYTES: Final = 256 * 1024
MAX_RECORDS: Final = 200_000
MAX_ITEM_ID: Final = 200
MODEL_TYPE: Final = "replay"
_MISSING: Final = "ReplayMissing"
# What a replayed row records as its generation parameters: every setting unknown.
UNKNOWN_GENERATION: Final = {
    "temperature": "unknown",
    "max_new_tokens": "unknown",
    "top_p": "unknown",
    "seed": "unknown",
    "system_prompt": "unknown",
    "source": "replies replayed from a file; how they were generated is not recorded",
}


def recorded_generation(model_type: str, params: GenerationParams) -> dict[str, Any]:
    """The generation parameters a result row records: the run's own, or for replayed
    replies (generated elsewhere) every one unknown, never this run's defaults."""
    return dict(UNKNOWN_GENERATION) if model_type == MODEL_TYPE else params.to_json()


def _conversation_key(conversation: Conversation) -> str:
    blob = json.dumps([dict(m) for m in conversation], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def read_replay_file(path: Path) -> tuple[dict[str, tuple[str, str | None]], str]:
    """Per item id, (reply, detection or None), and the file's sha256. BackendError, naming the
    line but never its text, for anything out of bounds or malformed."""
    name = path.name
    try:
        size = path.stat().st_size
    except OSError:
        raise BackendError(f"replay: {name}: no such file") from None
    if size > MAX_REPLAY_BYTES:
        raise BackendError(f"replay: {name}: {size} bytes, more than the {MAX_REPLAY_BYTES} a replay file may have")
    digest = hashlib.sha256()
    records: dict[str, tuple[str, str | None]] = {}
    with path.open("rb") as handle:
        for number, obj in _json_lines(handle, digest, name):
            if len(records) >= MAX_RECORDS:
                raise BackendError(f"replay: {name}: more than {MAX_RECORDS} lines")
            item_id, reply, detection = _parse_record(obj, f"replay: {name} line {number}")
            if item_id in records:
                raise BackendError(f"replay: {name} line {number}: item {item_id!r} appears twice")
            records[item_id] = (reply, detection)
    if not records:
        raise BackendError(f"replay: {name}: no replies")
    return records, digest.hexdigest()


def _json_lines(handle: BinaryIO, digest: Any, name: str) -> Iterator[tuple[int, Any]]:
    """The file's JSON lines, every byte of it (blank lines too) going into `digest`."""

    def hashed() -> Iterator[bytes]:
        for raw in iter(lambda: handle.readline(MAX_LINE_BYTES + 1), b""):
            digest.update(raw)
            yield raw

    try:
        yield from iter_jsonl(hashed(), on_bad="raise", max_line_bytes=MAX_LINE_BYTES, loads=_strict_utf8_json)
    except JsonLineError as exc:
        problem = "not a JSON object" if exc.kind == "json" else exc.detail
        raise BackendError(f"replay: {name} line {exc.number}: {problem}") from None


def _strict_utf8_json(raw: bytes) -> Any:
    return json.loads(raw.decode("utf-8"))  # json.loads(bytes) would also take UTF-16 and -32


def _parse_record(obj: Any, where: str) -> tuple[str, str, str | None]:
    if not isinstance(obj, dict):
        raise BackendError(f"{where}: not a JSON object")
    item_id, reply, detection = obj.get("item_id"), obj.get("reply"), obj.get("detection")
    if not isinstance(item_id, str) or not item_id or len(item_id) > MAX_ITEM_ID:
        raise BackendError(f"{where}: item_id must be a string of 1-{MAX_ITEM_ID} characters")
    if not isinstance(reply, str):
        raise BackendError(f"{where}: reply must be a string")
    if detection is not None and not isinstance(detection, str):
        raise BackendError(f"{where}: detection must be a string when given")
    return item_id, reply, detection


class ReplayBackend:
    def __init__(self, target: str, *, maintainer: bool = False) -> None:
        path = Path(target)
        self._name = path.name
        self._records, sha = read_replay_file(path)
        self._maintainer = maintainer
        self._by_conversation: dict[str, tuple[str, str]] = {}  # key -> (kind, item id)
        self._info = ModelInfo(
            spec=f"replay:{path.name}",
            model=f"replay:{path.stem}",
            revision=sha[:12],
            model_type=MODEL_TYPE,
            details={"file": path.name, "sha256": sha, "replies": len(self._records)},
        )

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def has_detection(self) -> bool:
        """Whether any line answers the detection prompt; none: run without it."""
        return any(detection is not None for _, detection in self._records.values())

    def bind(self, item_set: ItemSet) -> None:
        """Match conversations to the items of the set about to be run; refuse a private set
        unless the caller is a maintainer."""
        if not item_set.is_public and not self._maintainer:
            raise BackendError(
                f"replay: set {item_set.name!r} is private; replaying on it is for maintainers "
                "(--maintainer, with the admin token in $CRISIS_ADMIN_TOKEN or --admin-token-file FILE); "
                "a published set imported with `evaluator import --public` needs neither"
            )
        self._by_conversation = {}
        for item in item_set.items:
            self._by_conversation[_conversation_key(item.messages)] = ("reply", item.id)
            self._by_conversation[_conversation_key(detection_messages(item))] = ("detect", item.id)

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams, on_reply: OnReply | None = None
    ) -> list[Reply]:
        replies = []
        for index, conversation in enumerate(conversations):
            reply = self._reply(conversation)
            if on_reply:
                on_reply(index, reply)
            replies.append(reply)
        return replies

    def _reply(self, conversation: Conversation) -> Reply:
        found = self._by_conversation.get(_conversation_key(conversation))
        if found is None:
            return Reply.failed("ReplayError: the conversation is not an item of the bound set")
        kind, item_id = found
        record = self._records.get(item_id)
        if record is None:
            return Reply.failed(f"{_MISSING}: {self._name} has no reply for item {item_id!r}")
        reply, detection = record
        if kind == "detect":
            if detection is None:
                return Reply.failed(
                    f"{_MISSING}: {self._name} has no detection for item {item_id!r} "
                    "(give every line one, or run with --no-detection)"
                )
            return Reply(text=detection, finish_reason="stop")
        # Token counts are unknown (None), not zero: nothing was generated here.
        return Reply(text=reply, finish_reason="stop")

    def close(self) -> None:
        pass
