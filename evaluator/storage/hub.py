"""The Hub home: the local layout kept in three dataset repos, read through a local mirror.
`HubStore` implements the `Store` interface (evaluator.storage.base).

    ORG/PREFIX-requests  public   requests/
    ORG/PREFIX-results   public   results/, public/
    ORG/PREFIX-private   private  runs/, sets/, cache/, logs/, queue/

Reads never touch the network: they read the mirror directory, which `refresh` brings up
to date (one repo_info call per repo when nothing changed; otherwise a tree listing and a
download of only the files whose content changed, each replaced atomically). After its own
commits the process writes the same bytes into its mirror at once.

Writes are commits, and `HubStore._commit` is the only code that makes one: it refuses any
path whose area does not belong to the repo it is committing to, so a private area can never
reach a public repo whatever the caller asked. A commit made against a parent that is no
longer the branch head comes back from the Hub as HTTP 412, raised here as CommitConflict.

The private repo's runs/ and cache/ are not mirrored on a timer (a reader never needs them);
a worker pulls the run it resumes, and the cache, on demand.

This module and submissions.hub (model validation) are the only ones that import
huggingface_hub; nothing else talks to the Hub for storage.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

from evaluator.storage.base import (
    CommitConflict,
    Operation,
    PrivatePathRefused,
    Put,
    StoreError,
    StoreSpec,
    StoreUnavailable,
    check_path,
    list_tree,
    local_only,
)
from evaluator.storage.layout import PRIVATE_AREAS, DataDir, atomic_write_bytes
from evaluator.storage.mirror import Manifest

log = logging.getLogger("evaluator.storage.hub")

T = TypeVar("T")
REPO_TYPE: Final = "dataset"
ROOT_FILES: Final = frozenset({"README.md", ".gitattributes"})
MANIFEST_DIR: Final = ".hub"
DOWNLOAD_THREADS: Final = 8
DEFAULT_SPACE_INTERVAL_S: Final = 60.0
WRITE_PAUSE_S: Final = 30.0


@dataclass(frozen=True)
class Repo:
    role: str  # "requests" | "results" | "private"
    repo_id: str
    private: bool
    areas: tuple[str, ...]
    mirrored: tuple[str, ...]  # prefixes `refresh` keeps in the mirror


def repos_for(org: str, prefix: str) -> dict[str, Repo]:
    base = f"{org}/{prefix}"
    return {
        "requests": Repo("requests", f"{base}-requests", False, ("requests",), ("requests/",)),
        "results": Repo("results", f"{base}-results", False, ("results", "public"), ("results/", "public/")),
        "private": Repo("private", f"{base}-private", True, PRIVATE_AREAS, ("sets/", "queue/")),
    }


def git_blob_id(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


def content_keys(content: bytes) -> list[str]:
    """What the Hub's tree may report for these bytes: the git blob id, or the LFS sha256."""
    return [git_blob_id(content), hashlib.sha256(content).hexdigest()]


def file_bytes(path: Path) -> bytes:
    """The file's content; a live SQLite database through its backup API, so the copy is consistent."""
    if path.suffix == ".sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / path.name
            src = sqlite3.connect(path, timeout=30.0)
            dst = sqlite3.connect(copy)
            try:
                src.backup(dst)
            finally:
                dst.close()
                src.close()
            return copy.read_bytes()
    return path.read_bytes()


class HubStore:
    """The three repos of `hub:ORG/PREFIX`, mirrored under `mirror`."""

    def __init__(
        self,
        spec: StoreSpec,
        mirror: Path,
        *,
        endpoint: str | None = None,
        token: str | None = None,
        interval_s: float | None = None,
        mirrored: tuple[str, ...] | None = None,
    ) -> None:
        """`mirrored`: the areas (e.g. "results/") the mirror keeps; None for every repo's own."""
        assert spec.kind == "hub" and spec.org and spec.prefix
        self.spec = spec
        self.repos = repos_for(spec.org, spec.prefix)
        served = {p for repo in self.repos.values() for p in repo.mirrored}
        if mirrored is not None and not set(mirrored) <= served:
            raise StoreError(f"a Hub mirror keeps only {', '.join(sorted(served))}")
        self._only = None if mirrored is None else frozenset(mirrored)
        self.mirror = mirror
        self.data = DataDir(mirror)
        self.endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
        self.token = token  # None: whatever huggingface_hub finds ($HF_TOKEN, the saved login)
        self.interval_s = interval_s
        self._locks = {role: threading.RLock() for role in self.repos}
        self._manifests = {role: Manifest(mirror / MANIFEST_DIR / f"{role}.json") for role in self.repos}
        self._read_only_reason: str | None = None
        self._last_error: str | None = None
        self._refreshed_at: float | None = None
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        # After a failed write, further writes fail at once for this long instead of each
        # sitting through the client's own retries: the worker pushes again at its next stage.
        self.write_pause_s = WRITE_PAUSE_S
        # Per repo: (when its last write failed, the line saying so). One repo's failure
        # holds back that repo's writes only, and the pause names it.
        self._write_failed: dict[str, tuple[float, str]] = {}
        self.commits = 0  # successful commits by this process (the benchmark counts them)
        self.conflicts = 0
        self._api_obj: Any = None

    # ------------------------------------------------------------------ opening and checks

    @classmethod
    def from_env(
        cls, spec: StoreSpec, env: Mapping[str, str] | None = None, *, mirrored: tuple[str, ...] | None = None
    ) -> HubStore:
        """The store as configured ($CRISIS_MIRROR_DIR, $CRISIS_MIRROR_INTERVAL, $HF_ENDPOINT, $HF_TOKEN), unchecked."""
        env = os.environ if env is None else env
        mirror = Path(env.get("CRISIS_MIRROR_DIR") or _default_mirror(spec))
        interval = env.get("CRISIS_MIRROR_INTERVAL")
        try:
            interval_s = float(interval) if interval else (DEFAULT_SPACE_INTERVAL_S if env.get("SPACE_ID") else None)
        except ValueError:
            interval_s = -1.0
        if interval_s is not None and not interval_s > 0:
            raise StoreError("CRISIS_MIRROR_INTERVAL must be a positive number of seconds")
        _claim_mirror(mirror, spec)
        return cls(
            spec,
            mirror,
            endpoint=env.get("HF_ENDPOINT"),
            token=env.get("HF_TOKEN") or None,
            interval_s=interval_s,
            mirrored=mirrored,
        )

    @classmethod
    def open(
        cls,
        spec: StoreSpec,
        *,
        writable: bool = True,
        env: Mapping[str, str] | None = None,
        mirrored: tuple[str, ...] | None = None,
    ) -> HubStore:
        """Check the repos, refresh the mirror, and start the refresh timer if one is configured.

        Unreachable or unauthorised: one clear line. A process that needs to write raises it;
        a reader (and the Space, with writable=False) keeps the last mirror, read-only.
        """
        store = cls.from_env(spec, env, mirrored=mirrored)
        problem, reachable = store.check()
        if problem is not None:
            if writable or not (reachable or store._has_mirror()):
                raise StoreUnavailable(problem)
            store._read_only_reason = problem if reachable else f"{problem}; serving the last mirror read-only"
            log.warning("%s", store._read_only_reason)
        if store.interval_s:
            store.start_refresher(store.interval_s)
        return store

    def check(self) -> tuple[str | None, bool]:
        """(None, True) if the store can be used; else the line saying what is missing, and
        whether the Hub answered at all."""
        try:
            for repo in self.repos.values():
                info = self._info(repo)
                if repo.private and not getattr(info, "private", False):
                    # Never degrade to read-only here: a public private repo is a leak in progress.
                    raise StoreError(
                        f"{repo.repo_id} is public but holds the private areas (runs/, sets/, ...): "
                        "make it private before starting"
                    )
                self._refresh_repo(repo, self._mirrored(repo), force=False)
            self._refreshed_at = time.monotonic()
        except StoreUnavailable as exc:
            return str(exc), False
        if self._token_role() == "read":
            repo_ids = ", ".join(r.repo_id for r in self.repos.values())
            return f"the Hub token ($HF_TOKEN) can only read; writing to {repo_ids} needs write access", True
        return None, True

    def _token_role(self) -> str | None:
        try:
            who = self._api.whoami()
        except Exception:  # whoami is advisory: the commit itself is the real check
            return None
        token = (who.get("auth") or {}).get("accessToken") or {}
        role = token.get("role")
        return str(role) if role else None

    def _has_mirror(self) -> bool:
        return any(m.sha for m in self._manifests.values())

    @property
    def read_only(self) -> bool:
        return self._read_only_reason is not None

    @property
    def status_line(self) -> str | None:
        if self._read_only_reason:
            return f"Read-only: {self._read_only_reason}."
        if self._last_error:
            return f"The Hub store is not answering ({self._last_error}); showing the last copy."
        return None

    # ------------------------------------------------------------------ huggingface_hub

    @property
    def _api(self) -> Any:
        if self._api_obj is None:
            from huggingface_hub import HfApi

            self._api_obj = HfApi(endpoint=self.endpoint, token=self.token)
        return self._api_obj

    def _call(self, repo: Repo, need: str, fn: Callable[[], T]) -> T:
        """Run one Hub call, turning its failures into our one-line errors."""
        import httpx2
        from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError

        try:
            return fn()
        except OfflineModeIsEnabled:
            raise StoreUnavailable(f"cannot reach {repo.repo_id}: offline mode is on (HF_HUB_OFFLINE=1)") from None
        except RepositoryNotFoundError:
            raise StoreUnavailable(
                f"cannot {need} {repo.repo_id}: it does not exist or the token ($HF_TOKEN) has no {need} access "
                "(create it with `python -m submissions init-store`)"
            ) from None
        except HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status == 412:
                raise CommitConflict(f"{repo.repo_id} moved since it was read") from None
            if status in (401, 403):
                raise StoreUnavailable(
                    f"cannot {need} {repo.repo_id}: the token ($HF_TOKEN) has no {need} access"
                ) from None
            raise StoreUnavailable(f"{repo.repo_id}: the Hub answered HTTP {status}") from None
        except (httpx2.TransportError, OSError) as exc:
            raise StoreUnavailable(f"cannot reach {repo.repo_id} at {self.endpoint} ({type(exc).__name__})") from None

    def _info(self, repo: Repo) -> Any:
        return self._call(repo, "read", lambda: self._api.repo_info(repo.repo_id, repo_type=REPO_TYPE))

    def _create(self, repo: Repo) -> None:
        self._call(
            repo,
            "write",
            lambda: self._api.create_repo(repo.repo_id, repo_type=REPO_TYPE, private=repo.private, exist_ok=True),
        )

    def _head(self, repo: Repo) -> str:
        return str(self._info(repo).sha)

    def _download(self, repo: Repo, path: str, revision: str) -> bytes:
        from huggingface_hub import hf_hub_url
        from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

        def get() -> bytes:
            url = hf_hub_url(repo.repo_id, path, repo_type=REPO_TYPE, revision=revision, endpoint=self.endpoint)
            response = get_session().get(
                url, headers=build_hf_headers(token=self.token), follow_redirects=True, timeout=60.0
            )
            hf_raise_for_status(response)
            return bytes(response.content)

        return self._call(repo, "read", get)

    def _tree(self, repo: Repo, revision: str, prefix: str | None = None) -> dict[str, str]:
        """Path -> content key of every file (under `prefix`) at `revision`."""
        from huggingface_hub.errors import RemoteEntryNotFoundError
        from huggingface_hub.hf_api import RepoFile

        def listing() -> dict[str, str]:
            try:
                entries = self._api.list_repo_tree(
                    repo.repo_id,
                    path_in_repo=prefix.rstrip("/") if prefix else None,
                    recursive=True,
                    revision=revision,
                    repo_type=REPO_TYPE,
                )
                return {
                    e.path: (e.lfs.sha256 if e.lfs is not None else e.blob_id)
                    for e in entries
                    if isinstance(e, RepoFile)
                }
            except RemoteEntryNotFoundError:
                return {}

        return self._call(repo, "read", listing)

    # ------------------------------------------------------------------ the one commit

    def repo_for(self, path: str) -> Repo:
        area = check_path(path).split("/", 1)[0]
        for repo in self.repos.values():
            if area in repo.areas:
                return repo
        raise PrivatePathRefused(f"{path!r} is in no area of the data layout")

    def _commit(
        self,
        repo_id: str,
        puts: Mapping[str, bytes],
        deletes: Iterable[str] = (),
        *,
        message: str,
        parent: str | None = None,
    ) -> str:
        """Make one commit; the new head. The only place any of our code commits to the Hub.

        Refuses (before any network call) a path outside the repo's own areas, and any
        private area for a repo that is not the store's private one, whoever the caller is.
        """
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        repo = next((r for r in self.repos.values() if r.repo_id == repo_id), None)
        if repo is None:
            raise PrivatePathRefused(f"{repo_id} is not one of this store's repos")
        deletes = list(deletes)
        for path in [*puts, *deletes]:
            clean = check_path(path)
            area = clean.split("/", 1)[0]
            if clean in ROOT_FILES:
                continue
            if area in PRIVATE_AREAS and not repo.private:
                raise PrivatePathRefused(f"refusing to commit private {clean!r} to the public repo {repo_id}")
            if area not in repo.areas:
                raise PrivatePathRefused(f"{clean!r} does not belong in {repo_id}")
        if self._read_only_reason:
            raise StoreUnavailable(self._read_only_reason)
        failed = self._write_failed.get(repo.role)
        if failed is not None and time.monotonic() - failed[0] < self.write_pause_s:
            raise StoreUnavailable(f"{failed[1]} (not retried for {self.write_pause_s:.0f} s)")
        operations: list[Any] = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=b) for p, b in puts.items()]
        operations += [CommitOperationDelete(path_in_repo=p) for p in deletes]
        try:
            info = self._call(
                repo,
                "write",
                lambda: self._api.create_commit(
                    repo_id, operations, commit_message=message, repo_type=REPO_TYPE, parent_commit=parent
                ),
            )
        except CommitConflict:
            raise
        except StoreUnavailable as exc:
            self._write_failed[repo.role] = (time.monotonic(), str(exc))
            self._last_error = str(exc)
            raise
        self._write_failed.pop(repo.role, None)
        self.commits += 1
        return str(info.oid)

    # ------------------------------------------------------------------ mirror

    def _write_mirror(
        self, repo: Repo, puts: Mapping[str, bytes], deletes: Iterable[str], sha: str, parent: str | None
    ) -> None:
        manifest = self._manifests[repo.role]
        for path, content in puts.items():
            target = self.mirror / path
            if not target.exists() or target.read_bytes() != content:
                atomic_write_bytes(target, content)
            manifest.files[path] = content_keys(content)
        for path in deletes:
            with contextlib.suppress(FileNotFoundError):
                (self.mirror / path).unlink()
            manifest.files.pop(path, None)
        # Only when we committed right on top of what the mirror holds is the mirror now at
        # the new head; otherwise the next refresh lists the tree (our files already match).
        if parent is not None and parent == manifest.sha:
            manifest.sha = sha
        manifest.save()

    def commit_files(
        self,
        puts: Mapping[str, bytes],
        deletes: Iterable[str] = (),
        *,
        message: str,
        parent: str | None = None,
    ) -> str:
        """Commit to the one repo these paths belong to, then update the mirror. CommitConflict on 412."""
        paths = [*puts, *deletes]
        if not paths:
            raise StoreError("nothing to commit")
        repos = {self.repo_for(p).role for p in paths}
        if len(repos) != 1:
            raise StoreError("one commit goes to one repo")
        repo = self.repos[repos.pop()]
        with self._locks[repo.role]:
            try:
                sha = self._commit(repo.repo_id, puts, deletes, message=message, parent=parent)
            except CommitConflict:
                self.conflicts += 1
                raise
            self._write_mirror(repo, puts, list(deletes), sha, parent)
            self._last_error = None
            return sha

    def mirror_sha(self, role: str) -> str | None:
        return self._manifests[role].sha

    def repo_lock(self, role: str) -> threading.RLock:
        return self._locks[role]

    def refresh(self, *, force: bool = False, roles: Iterable[str] | None = None) -> None:
        """Bring the mirrored prefixes of each repo up to its head. Errors are kept for `status_line`."""
        problems = []
        for role in roles or self.repos:
            repo = self.repos[role]
            try:
                self._refresh_repo(repo, self._mirrored(repo), force=force)
            except StoreUnavailable as exc:
                problems.append(str(exc))
        self._refreshed_at = time.monotonic()
        self._last_error = problems[0] if problems else None
        if problems and force and not self._has_mirror():
            raise StoreUnavailable(problems[0])
        if not problems and self._read_only_reason is not None:
            # Opened read-only while the Hub was away: now that it answers, check again (the
            # repos, their privacy, the token's role) and leave read-only mode if all is well.
            problem, _reachable = self.check()
            if problem is None:
                log.warning("the Hub store answers again: leaving read-only mode")
                self._read_only_reason = None

    def refresh_role(self, role: str) -> str:
        """Refresh one repo now (after a conflict); its head. Raises StoreUnavailable."""
        repo = self.repos[role]
        return self._refresh_repo(repo, self._mirrored(repo), force=False)

    def _mirrored(self, repo: Repo) -> tuple[str, ...]:
        return repo.mirrored if self._only is None else tuple(p for p in repo.mirrored if p in self._only)

    def _refresh_repo(self, repo: Repo, prefixes: tuple[str, ...], *, force: bool) -> str:
        with self._locks[repo.role]:
            manifest = self._manifests[repo.role]
            head = self._head(repo)
            if manifest.up_to(head, prefixes) and not force:
                return head
            if prefixes:  # else nothing of this repo is mirrored: no tree to list
                remote = {p: k for p, k in self._tree(repo, head).items() if p.startswith(prefixes)}
                self._sync(repo, manifest, remote, head, prefixes)
            manifest.sha = head
            manifest.covers = frozenset(prefixes)
            manifest.save()
            return head

    def _sync(
        self, repo: Repo, manifest: Manifest, remote: dict[str, str], head: str, prefixes: tuple[str, ...]
    ) -> int:
        """Download what changed, delete what went; how many files were fetched."""
        wanted = [
            p for p, key in remote.items() if key not in manifest.files.get(p, ()) or not (self.mirror / p).exists()
        ]

        def fetch(path: str) -> tuple[str, bytes]:
            return path, self._download(repo, path, head)

        if wanted:
            with ThreadPoolExecutor(min(DOWNLOAD_THREADS, len(wanted))) as pool:
                for path, content in pool.map(fetch, wanted):
                    atomic_write_bytes(self.mirror / check_path(path), content)
                    manifest.files[path] = content_keys(content)
        for path in [p for p in manifest.files if p.startswith(prefixes) and p not in remote]:
            with contextlib.suppress(FileNotFoundError):
                (self.mirror / path).unlink()
            del manifest.files[path]
        return len(wanted)

    def read_file(self, path: str) -> bytes | None:
        target = self.mirror / check_path(path)
        try:
            return target.read_bytes()
        except FileNotFoundError:
            return None

    read_bytes = read_file  # the Store interface's name for it

    def commit(self, operations: Iterable[Operation], message: str) -> None:
        """Store.commit: every path routed (and checked) first, then one `commit_files` per repo."""
        by_role: dict[str, tuple[dict[str, bytes], list[str]]] = {}
        for op in operations:
            puts, deletes = by_role.setdefault(self.repo_for(op.path).role, ({}, []))
            if isinstance(op, Put):
                puts[check_path(op.path)] = op.content
            else:
                deletes.append(check_path(op.path))
        if not by_role:
            raise StoreError("nothing to commit")
        for puts, deletes in by_role.values():
            self.commit_files(puts, deletes, message=message)

    def pull(self, prefix: str) -> None:
        """Fetch everything under `prefix` (e.g. runs/<id>/, cache/) from its repo's head."""
        repo = self.repo_for(prefix.rstrip("/") + "/x")
        prefixes = (prefix,)
        with self._locks[repo.role]:
            manifest = self._manifests[repo.role]
            head = self._head(repo)
            remote = self._tree(repo, head, prefix)
            self._sync(repo, manifest, remote, head, prefixes)
            manifest.save()

    def push(self, paths: Iterable[str], message: str) -> None:
        """Commit files already under the mirror, one commit per repo; unchanged files are skipped."""
        by_role: dict[str, dict[str, bytes]] = {}
        for path in paths:
            clean = check_path(path)
            if local_only(clean):
                continue
            local = self.mirror / clean
            if not local.is_file():
                continue
            repo = self.repo_for(clean)
            content = file_bytes(local)
            if self._manifests[repo.role].files.get(clean) == content_keys(content):
                continue  # the Hub already has these bytes
            by_role.setdefault(repo.role, {})[clean] = content
        for puts in by_role.values():
            self.commit_files(puts, message=message)

    def list_files(self, prefix: str) -> list[str]:
        """Relative paths of the mirror's files under `prefix` (for pushing a directory)."""
        return list_tree(self.mirror, prefix)

    files_under = list_files  # its name before the Store interface

    def remote_files(self, role: str) -> dict[str, str]:
        """Path -> content key of every file in the repo at its head (migrate compares with it)."""
        repo = self.repos[role]
        return self._tree(repo, self._head(repo))

    # ------------------------------------------------------------------ timer

    def start_refresher(self, interval_s: float) -> None:
        if self._timer is not None:
            return

        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.refresh()
                except Exception:  # the timer must outlive any one bad refresh
                    log.exception("mirror refresh failed")

        self._timer = threading.Thread(target=loop, name="hub-mirror-refresh", daemon=True)
        self._timer.start()

    def close(self) -> None:
        self._stop.set()


def _claim_mirror(mirror: Path, spec: StoreSpec) -> None:
    """A mirror directory serves one store; reading another store's files as ours would be wrong."""
    marker = mirror / MANIFEST_DIR / "store"
    try:
        owner = marker.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        atomic_write_bytes(marker, f"{spec}\n".encode())
        return
    if owner != str(spec):
        raise StoreError(f"the mirror {mirror} belongs to {owner}; give {spec} its own $CRISIS_MIRROR_DIR")


def _default_mirror(spec: StoreSpec) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "crisis-leaderboard" / "mirror" / f"{spec.org}--{spec.prefix}"


def create_repos(store: HubStore, cards: Mapping[str, str]) -> list[str]:
    """`init-store`: create the three repos with their visibility and cards; what was done, line by line."""
    done = []
    for repo in store.repos.values():
        store._create(repo)
        info = store._info(repo)
        if bool(getattr(info, "private", False)) != repo.private:
            want = "private" if repo.private else "public"
            raise StoreError(f"{repo.repo_id} exists but is not {want}; change its visibility on the Hub first")
        card = cards.get(repo.role)
        if card is not None:
            current = None
            with contextlib.suppress(StoreUnavailable):
                current = store._download(repo, "README.md", store._head(repo))
            if current != card.encode():
                store._commit(repo.repo_id, {"README.md": card.encode()}, message="Dataset card")
        done.append(f"{repo.repo_id}: {'private' if repo.private else 'public'}, card up to date")
    return done


MIGRATE_BATCH: Final = 100  # files per commit: few commits, and a crash loses at most one batch
LOCAL_ONLY_AREAS: Final = ("queue",)  # the local store's lock files and index; the Hub home needs neither


def migrate(source: Path, store: HubStore, *, say: Callable[[str], None] = print) -> int:
    """Copy a local data directory into the store's repos; how many files were copied.

    Idempotent and resumable: a file whose bytes the repo already has is skipped, and files
    go in batches, each its own commit, so a rerun after a crash carries on.
    """
    if not source.is_dir():
        raise StoreError(f"no data directory at {source}")
    copied = 0
    for repo in store.repos.values():
        remote = store.remote_files(repo.role)
        todo: list[tuple[str, bytes]] = []
        present = 0
        for area in repo.areas:
            if area in LOCAL_ONLY_AREAS:
                if (source / area).exists():
                    say(f"{area}/: skipped (the local queue index; the Hub store needs none)")
                continue
            base = source / area
            if not base.is_dir():
                continue
            for path in sorted(base.rglob("*")):
                rel = path.relative_to(source).as_posix()
                if not path.is_file() or local_only(rel):
                    continue
                content = file_bytes(path)
                if remote.get(rel) in content_keys(content):
                    present += 1
                else:
                    todo.append((rel, content))
        for start in range(0, len(todo), MIGRATE_BATCH):
            batch = dict(todo[start : start + MIGRATE_BATCH])
            store.commit_files(batch, message=f"Migrate {len(batch)} files from a local data directory")
        size = sum(len(c) for _, c in todo)
        say(f"{repo.repo_id}: copied {len(todo)} files ({size:,} bytes), {present} already there")
        copied += len(todo)
    return copied


__all__ = ["HubStore", "Repo", "create_repos", "migrate", "repos_for"]
