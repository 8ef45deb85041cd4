"""The one storage layer shared by submissions, evaluator and leaderboard (ARCHITECTURE.md).

One layout (`layout`), two homes (`home`): a local data directory, or three Hub dataset
repos read through a local mirror (`hub`; huggingface_hub is imported only when a Hub store is
opened). Both implement the one `Store` interface (`base`).
"""

from evaluator.storage.base import (
    STORE_HELP,
    CommitConflict,
    Delete,
    Operation,
    PrivatePathRefused,
    Put,
    Store,
    StoreError,
    StoreSpec,
    StoreUnavailable,
    parse_store,
)
from evaluator.storage.home import (
    LocalStore,
    add_store_arguments,
    open_store,
    resolve_spec,
    store_from_args,
    store_of,
)
from evaluator.storage.layout import (
    DEFAULT_DATA_DIR,
    PRIVATE_AREAS,
    PUBLIC_AREAS,
    BadLine,
    DataDir,
    JsonLineError,
    LockBusy,
    append_jsonl,
    atomic_create_bytes,
    atomic_create_json,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    exclusive_lock,
    iter_jsonl,
    json_bytes,
    read_json,
    read_jsonl,
)
from evaluator.storage.sink import RunSink

__all__ = [
    "DEFAULT_DATA_DIR",
    "PRIVATE_AREAS",
    "PUBLIC_AREAS",
    "STORE_HELP",
    "BadLine",
    "CommitConflict",
    "DataDir",
    "Delete",
    "JsonLineError",
    "LocalStore",
    "LockBusy",
    "Operation",
    "PrivatePathRefused",
    "Put",
    "RunSink",
    "Store",
    "StoreError",
    "StoreSpec",
    "StoreUnavailable",
    "add_store_arguments",
    "append_jsonl",
    "atomic_create_bytes",
    "atomic_create_json",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "exclusive_lock",
    "iter_jsonl",
    "json_bytes",
    "open_store",
    "parse_store",
    "read_json",
    "read_jsonl",
    "resolve_spec",
    "store_from_args",
    "store_of",
]
