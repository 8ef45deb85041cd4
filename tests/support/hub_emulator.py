"""A loopback Hugging Face Hub: the part of the Hub's HTTP API that huggingface_hub 2.4 uses for what we call.

The wire format follows the installed client (.venv/.../huggingface_hub: hf_api.py, _commit_api.py,
file_download.py, utils/_http.py, _jobs_api.py), so the product's real `huggingface_hub` calls run
against it through `HF_ENDPOINT`:

- repos: `POST /api/repos/create`, `DELETE /api/repos/delete`, `PUT /api/{type}s/{id}/settings`,
  `GET /api/{type}s/{id}[/revision/{rev}]` (model_info with siblings, safetensors, cardData, gated...),
  `GET /api/{type}s/{id}/auth-check[/write]`, `GET /api/{type}s/{id}/refs`;
- files: `GET /api/{type}s/{id}/tree/{rev}[/{path}]` (recursive, Link-header pagination),
  `POST /api/{type}s/{id}/paths-info/{rev}`, `GET /api/{type}s/{id}/commits/{rev}`,
  `HEAD|GET /[{type}s/]{id}/resolve/{rev}/{path}` (ETag, X-Repo-Commit, Content-Length, Range);
- writes: `POST /api/validate-yaml`, `POST /api/{type}s/{id}/preupload/{rev}` (always "regular"),
  `POST /api/{type}s/{id}/commit/{rev}` (NDJSON header/file/deletedFile/deletedFolder; a `parentCommit`
  that is not the branch head is refused with 412 as the Hub refuses it);
- `GET /api/whoami-v2`; jobs: `/api/jobs/{ns}[/{id}[/cancel]]`, `/api/scheduled-jobs/{ns}[/{id}[/suspend|resume]]`.

Tokens: a write token may create and commit in its user's and organisations' namespaces, a read token
may only read (403 on writes); no token, or another user's token, does not see a private repo (404,
RepoNotFound); an unknown token gets 401 "Invalid credentials in Authorization header", as on the Hub.

Fault controls for tests: `down()`/`up()` (refuse connections), `slow(seconds)`, `fail_next(n, status=500)`,
and `commit_count(repo_id)`. See /work/notes/emulator.md, or run standalone:
`python -m tests.support.hub_emulator --port 8123`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import json
import re
import struct
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

WRITE_TOKEN = "hf_emulator_write_token"
READ_TOKEN = "hf_emulator_read_token"
OTHER_TOKEN = "hf_emulator_other_user_token"  # a valid token of a user outside the organisation
USER = "emulator-user"
OTHER_USER = "someone-else"
ORG = "crisis-org"

REPO_TYPES = ("model", "dataset", "space")
TREE_PAGE_SIZE = 1000  # the Hub's page size for a tree listing without expand
JOB_FLAVORS = frozenset(  # huggingface_hub's JobHardware values
    {
        "cpu-basic",
        "cpu-upgrade",
        "cpu-performance",
        "cpu-xl",
        "t4-small",
        "t4-medium",
        "l4x1",
        "l4x4",
        "l40sx1",
        "l40sx4",
        "l40sx8",
        "a10g-small",
        "a10g-large",
        "a10g-largex2",
        "a10g-largex4",
        "a100-large",
        "a100x4",
        "a100x8",
        "h200",
        "h200x2",
        "h200x4",
        "h200x8",
        "rtx-pro-6000",
        "rtx-pro-6000x2",
        "rtx-pro-6000x4",
        "rtx-pro-6000x8",
    }
)
_SCHEDULE = re.compile(r"@(?:annually|yearly|monthly|weekly|daily|hourly)|(?:[0-9*/,\-]+\s+){4}[0-9*/,\-]+")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.parquet filter=lfs diff=lfs merge=lfs -text\n"


def git_blob_sha(content: bytes) -> str:
    """The git object id of a blob: what the Hub reports as a regular file's oid and ETag."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def safetensors_bytes(tensors: dict[str, tuple[str, list[int]]]) -> bytes:
    """A safetensors file whose header declares `tensors` (name -> (dtype, shape)).

    Only the header is real: the data section is a few bytes, which is all the Hub's parser and the
    client's range-read of the header look at. Lets a test declare a 7B model without 14 GB of zeros.
    """
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        count = 1
        for dim in shape:
            count *= dim
        size = count * {"F32": 4, "F16": 2, "BF16": 2, "I8": 1, "U8": 1}.get(dtype, 4)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + b"\0" * 8


def _safetensors_header(content: bytes) -> dict[str, Any] | None:
    if len(content) < 8:
        return None
    size = struct.unpack("<Q", content[:8])[0]
    try:
        header = json.loads(content[8 : 8 + size])
    except ValueError:
        return None
    return header if isinstance(header, dict) else None


def _card_data(readme: bytes | None) -> dict[str, Any] | None:
    if readme is None:
        return None
    text = readme.decode("utf-8", errors="replace")
    match = re.match(r"---\s*\n(.*?)\n---\s*(\n|\Z)", text, flags=re.DOTALL)
    if not match:
        return None
    import yaml  # a dependency of huggingface_hub itself

    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


@dataclass
class Commit:
    oid: str
    title: str
    message: str
    author: str
    date: str
    files: dict[str, bytes]  # the whole tree at this commit


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    gated: str | bool = False
    disabled: bool = False
    commits: list[Commit] = field(default_factory=list)  # oldest first; the last is the head of main
    tags: dict[str, str] = field(default_factory=dict)
    granted: set[str] = field(default_factory=set)  # users given access to a gated repo
    created_at: str = field(default_factory=_now)

    @property
    def namespace(self) -> str:
        return self.repo_id.split("/", 1)[0]

    @property
    def head(self) -> Commit:
        return self.commits[-1]

    def resolve(self, revision: str) -> Commit | None:
        if revision in ("main", "refs/heads/main"):
            return self.head
        oid = self.tags.get(revision, revision)
        return next((c for c in self.commits if c.oid == oid), None)


@dataclass(frozen=True)
class Token:
    user: str
    role: str  # "read" | "write"
    orgs: tuple[str, ...]


class HubError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.extra = extra or {}
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


def _repo_not_found() -> HubError:
    return HubError(404, "Repository not found", "RepoNotFound")


class HubEmulator:
    """The emulator's state and its HTTP server. Use as a context manager, or start()/stop()."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.repos: dict[tuple[str, str], Repo] = {}
        self.tokens: dict[str, Token] = {
            WRITE_TOKEN: Token(USER, "write", (ORG,)),
            READ_TOKEN: Token(USER, "read", (ORG,)),
            OTHER_TOKEN: Token(OTHER_USER, "write", ()),
        }
        self.jobs: dict[str, dict[str, Any]] = {}  # job id -> stored spec incl. secret values
        self.scheduled_jobs: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status), for tests to inspect
        self.tree_page_size = TREE_PAGE_SIZE
        self.delay_s = 0.0
        self._fail: list[tuple[int, str | None]] = []  # (status, path substring or None), consumed in order
        self._down = False
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def write_token(self) -> str:
        return WRITE_TOKEN

    @property
    def read_token(self) -> str:
        return READ_TOKEN

    @property
    def other_token(self) -> str:
        return OTHER_TOKEN

    @property
    def user(self) -> str:
        return USER

    @property
    def org(self) -> str:
        return ORG

    def start(self) -> HubEmulator:
        handler = type("Handler", (_Handler,), {"hub": self})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="hub-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> HubEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self, token: str | None = WRITE_TOKEN) -> dict[str, str]:
        """Environment for a subprocess that should talk to this emulator."""
        env = {
            "HF_ENDPOINT": self.endpoint,
            "HF_HUB_OFFLINE": "0",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_UPDATE_CHECK": "1",
            "NO_PROXY": "127.0.0.1,localhost",
        }
        if token is not None:
            env["HF_TOKEN"] = token
        return env

    # ----------------------------------------------------------------- fault controls

    def down(self) -> None:
        """Refuse new connections and drop open ones, until up(): the Hub out of reach."""
        with self._lock:
            self._down = True
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def up(self) -> None:
        with self._lock:
            self._down = False
        if self._server is None:
            self.start()  # same port, same state

    @property
    def is_down(self) -> bool:
        return self._down

    def slow(self, seconds: float) -> None:
        """Delay every request by `seconds` (0 to stop)."""
        self.delay_s = seconds

    def fail_next(self, n: int = 1, status: int = 500, path_contains: str | None = None) -> None:
        """Answer the next `n` requests (whose path contains `path_contains`, if given) with `status`.

        Note huggingface_hub retries GETs (and preupload) on 5xx with backoff, so one failure there costs
        the caller about a second and is invisible; a commit POST is not retried.
        """
        with self._lock:
            self._fail.extend([(status, path_contains)] * n)

    def clear_faults(self) -> None:
        with self._lock:
            self._fail.clear()
            self.delay_s = 0.0
        self.up()

    def commit_count(self, repo_id: str, repo_type: str = "dataset") -> int:
        """Commits made on the repo after its creation (the Hub's initial commit is not counted)."""
        with self._lock:
            return len(self._repo(repo_type, repo_id).commits) - 1

    def _take_fault(self, path: str) -> int | None:
        with self._lock:
            for i, (status, needle) in enumerate(self._fail):
                if needle is None or needle in path:
                    del self._fail[i]
                    return status
        return None

    # ----------------------------------------------------------------- seeding (no HTTP)

    def add_token(self, token: str, user: str, role: str = "write", orgs: tuple[str, ...] = ()) -> None:
        self.tokens[token] = Token(user, role, orgs)

    def create_repo(
        self, repo_id: str, repo_type: str = "dataset", *, private: bool = False, gated: str | bool = False
    ) -> Repo:
        with self._lock:
            key = (repo_type, repo_id)
            if key in self.repos:
                raise ValueError(f"{repo_type} {repo_id} exists")
            repo = Repo(repo_type, repo_id, private=private, gated=gated)
            repo.commits.append(self._new_commit("initial commit", "", USER, {".gitattributes": _GITATTRIBUTES}))
            self.repos[key] = repo
            return repo

    def add_files(
        self,
        repo_id: str,
        files: Mapping[str, bytes | str],
        repo_type: str = "dataset",
        *,
        message: str = "seed files",
        delete: tuple[str, ...] = (),
    ) -> str:
        """Commit files directly (no HTTP, not blocked by faults); returns the new commit oid."""
        with self._lock:
            repo = self._repo(repo_type, repo_id)
            tree = dict(repo.head.files)
            for path, content in files.items():
                tree[path] = content.encode() if isinstance(content, str) else content
            for path in delete:
                tree.pop(path, None)
            repo.commits.append(self._new_commit(message, "", USER, tree))
            return repo.head.oid

    def seed_model(
        self,
        repo_id: str,
        *,
        private: bool = False,
        gated: str | bool = False,
        license: str | None = "apache-2.0",
        params: int | None = 1_500_000_000,
        chat_template: str | None = "{% for m in messages %}{{ m['content'] }}{% endfor %}",
        extra_files: dict[str, bytes | str] | None = None,
        tags: dict[str, dict[str, bytes | str]] | None = None,
    ) -> Repo:
        """A model repo that passes every submission check; tests then break one thing via the arguments.

        `params` sizes the safetensors header (F16, in tensors of at most 2**31 elements; None: no weights).
        `tags` maps a tag name to files committed (then tagged) before the final commit, so a tag and main differ.
        """
        repo = self.create_repo(repo_id, "model", private=private, gated=gated)
        files: dict[str, bytes | str] = {
            "config.json": json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}),
            "tokenizer.json": json.dumps({"version": "1.0"}),
        }
        tokenizer_config: dict[str, Any] = {"model_max_length": 4096}
        if chat_template is not None:
            tokenizer_config["chat_template"] = chat_template
        files["tokenizer_config.json"] = json.dumps(tokenizer_config)
        card = "---\nlicense: " + license + "\n---\n" if license else ""
        files["README.md"] = card + f"# {repo_id}\n\nA model used in tests.\n"
        if params is not None:
            tensors: dict[str, tuple[str, list[int]]] = {}
            left, i = params, 0
            while left > 0:
                chunk = min(left, 2**31)
                tensors[f"layer.{i}.weight"] = ("F16", [chunk])
                left -= chunk
                i += 1
            files["model.safetensors"] = safetensors_bytes(tensors)
        for tag, tag_files in (tags or {}).items():
            oid = self.add_files(repo_id, {**files, **tag_files}, "model", message=f"version {tag}")
            repo.tags[tag] = oid
        self.add_files(repo_id, {**files, **(extra_files or {})}, "model", message="upload model")
        return repo

    def grant(self, repo_id: str, user: str = USER, repo_type: str = "model") -> None:
        """Give `user` access to a gated repo."""
        with self._lock:
            self._repo(repo_type, repo_id).granted.add(user)

    def set_private(self, repo_id: str, private: bool, repo_type: str = "dataset") -> None:
        with self._lock:
            self._repo(repo_type, repo_id).private = private

    def files(self, repo_id: str, repo_type: str = "dataset", revision: str = "main") -> dict[str, bytes]:
        with self._lock:
            commit = self._repo(repo_type, repo_id).resolve(revision)
            assert commit is not None
            return dict(commit.files)

    def _repo(self, repo_type: str, repo_id: str) -> Repo:
        try:
            return self.repos[(repo_type, repo_id)]
        except KeyError:
            raise KeyError(f"no {repo_type} repo {repo_id} on the emulator") from None

    def _new_commit(self, title: str, message: str, author: str, files: dict[str, bytes]) -> Commit:
        n = next(self._ids)
        oid = hashlib.sha1(f"commit {n} {title} {time.time_ns()}".encode()).hexdigest()
        return Commit(oid, title, message, author, _now(), files)

    # ----------------------------------------------------------------- access rules

    def _token(self, authorization: str | None) -> Token | None:
        if not authorization:
            return None
        value = authorization.removeprefix("Bearer ").strip()
        token = self.tokens.get(value)
        if token is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        return token

    @staticmethod
    def _member(token: Token | None, namespace: str) -> bool:
        return token is not None and (token.user == namespace or namespace in token.orgs)

    def _readable(self, token: Token | None, repo_type: str, repo_id: str) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and not self._member(token, repo.namespace)):
            raise _repo_not_found()
        return repo

    def _writable(self, token: Token | None, repo_type: str, repo_id: str) -> Repo:
        if token is None:
            raise HubError(401, "You must be authenticated to write to this repository")
        repo = self._readable(token, repo_type, repo_id)
        if not self._member(token, repo.namespace):
            raise HubError(403, f"You don't have the rights to write to {repo_id}")
        if token.role != "write":
            raise HubError(403, "This action requires a token with write access (this one is read-only)")
        return repo

    def _content_access(self, token: Token | None, repo: Repo) -> None:
        if repo.disabled:
            raise HubError(403, "Access to this resource is disabled.")
        granted = self._member(token, repo.namespace) or (token is not None and token.user in repo.granted)
        if repo.gated and not granted:
            status = 401 if token is None else 403
            raise HubError(status, f"Access to model {repo.repo_id} is restricted.", "GatedRepo")

    def _namespace_writer(self, token: Token | None, namespace: str) -> Token:
        if token is None:
            raise HubError(401, "You must be authenticated")
        if not self._member(token, namespace):
            raise HubError(403, f"You don't have the rights to act in the namespace {namespace}")
        if token.role != "write":
            raise HubError(403, "This action requires a token with write access (this one is read-only)")
        return token


# --------------------------------------------------------------------- HTTP


class _Handler(BaseHTTPRequestHandler):
    hub: HubEmulator
    protocol_version = "HTTP/1.1"
    server_version = "HubEmulator/1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read `hub.requests` instead

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    # ------------------------------------------------------------- plumbing

    def _serve(self, method: str) -> None:
        hub = self.hub
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if hub.is_down:
            self.close_connection = True
            return  # drop the connection without an answer
        if hub.delay_s:
            time.sleep(hub.delay_s)
        url = urlsplit(self.path)
        path = url.path
        query = parse_qs(url.query, keep_blank_values=True)
        fault = hub._take_fault(path)
        try:
            if fault is not None:
                raise HubError(fault, f"emulated failure (HTTP {fault})")
            with hub._lock:
                token = hub._token(self.headers.get("Authorization"))
                status, headers, payload = _route(hub, method, path, query, body, token, self.headers)
        except HubError as exc:
            status = exc.status
            headers = {"Content-Type": "application/json", **exc.headers}
            if exc.code:
                headers["X-Error-Code"] = exc.code
            headers["X-Error-Message"] = exc.message
            payload = json.dumps({"error": exc.message, **exc.extra}).encode()
        except Exception as exc:  # a bug in the emulator: answer 500 so the test fails visibly
            status, headers = 500, {"Content-Type": "application/json"}
            payload = json.dumps({"error": f"emulator bug: {type(exc).__name__}: {exc}"}).encode()
        with hub._lock:
            hub.requests.append((method, path, status))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(payload)


Answer = tuple[int, dict[str, str], bytes]


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(data).encode()


def _repo_path(parts: list[str]) -> tuple[str, list[str]]:
    """'ns', 'name', rest... -> ('ns/name', rest)."""
    if len(parts) < 2 or not all(_NAME.fullmatch(p) for p in parts[:2]):
        raise _repo_not_found()
    return f"{parts[0]}/{parts[1]}", parts[2:]


def _route(
    hub: HubEmulator,
    method: str,
    path: str,
    query: dict[str, list[str]],
    body: bytes,
    token: Token | None,
    headers: Any,
) -> Answer:
    parts = [unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
    if parts[:1] == ["api"]:
        return _api(hub, method, parts[1:], query, body, token, path)
    # /[datasets/|spaces/]ns/name/resolve/rev/path...
    repo_type = "model"
    if parts[:1] in (["datasets"], ["spaces"]):
        repo_type = parts[0][:-1]
        parts = parts[1:]
    if len(parts) >= 5 and parts[2] == "resolve" and method in ("GET", "HEAD"):
        repo_id = f"{parts[0]}/{parts[1]}"
        return _resolve(hub, repo_type, repo_id, parts[3], "/".join(parts[4:]), token, headers)
    raise HubError(404, f"no such page on the emulator: {path}")


def _api(
    hub: HubEmulator,
    method: str,
    parts: list[str],
    query: dict[str, list[str]],
    body: bytes,
    token: Token | None,
    raw: str,
) -> Answer:
    head = parts[:1]
    if parts == ["whoami-v2"] and method == "GET":
        return _whoami(token)
    if parts == ["validate-yaml"] and method == "POST":
        return _validate_yaml(json.loads(body or b"{}"))
    if parts == ["repos", "create"] and method == "POST":
        return _create_repo(hub, json.loads(body or b"{}"), token)
    if parts == ["repos", "delete"] and method == "DELETE":
        data = json.loads(body or b"{}")
        repo_id = f"{data.get('organization') or (token.user if token else '')}/{data.get('name')}"
        hub._writable(token, data.get("type") or "model", repo_id)
        del hub.repos[(data.get("type") or "model", repo_id)]
        return _json({})
    if head == ["jobs"]:
        return _jobs(hub, method, parts[1:], query, body, token, raw)
    if head == ["scheduled-jobs"]:
        return _scheduled_jobs(hub, method, parts[1:], body, token)
    if head and head[0] in ("models", "datasets", "spaces"):
        repo_type = head[0][:-1]
        repo_id, rest = _repo_path(parts[1:])
        return _repo_api(hub, method, repo_type, repo_id, rest, query, body, token, raw)
    raise HubError(404, f"no such API route on the emulator: /api/{'/'.join(parts)}")


def _whoami(token: Token | None) -> Answer:
    if token is None:
        raise HubError(401, "Invalid credentials in Authorization header")
    return _json(
        {
            "type": "user",
            "id": hashlib.sha1(token.user.encode()).hexdigest()[:24],
            "name": token.user,
            "fullname": token.user,
            "isPro": False,
            "canPay": False,
            "orgs": [
                {"type": "org", "name": org, "fullname": org, "id": hashlib.sha1(org.encode()).hexdigest()[:24]}
                for org in token.orgs
            ],
            "auth": {"type": "access_token", "accessToken": {"displayName": "emulator", "role": token.role}},
        }
    )


def _validate_yaml(data: dict[str, Any]) -> Answer:
    content = str(data.get("content") or "")
    match = re.match(r"---\s*\n(.*?)\n---\s*(\n|\Z)", content, flags=re.DOTALL)
    if match:
        import yaml

        try:
            loaded = yaml.safe_load(match.group(1))
        except yaml.YAMLError as exc:
            return _json({"errors": [{"message": f"Invalid YAML: {exc}"}], "warnings": []}, 400)
        if loaded is not None and not isinstance(loaded, dict):
            return _json({"errors": [{"message": "metadata must be a YAML mapping"}], "warnings": []}, 400)
    return _json({"errors": [], "warnings": []})


def _create_repo(hub: HubEmulator, data: dict[str, Any], token: Token | None) -> Answer:
    name, namespace = data.get("name"), data.get("organization") or (token.user if token else None)
    repo_type = data.get("type") or "model"
    if not isinstance(name, str) or not _NAME.fullmatch(name) or repo_type not in REPO_TYPES:
        raise HubError(400, "Invalid repo name or type")
    if token is None:
        raise HubError(401, "You must be authenticated to create a repository")
    hub._namespace_writer(token, str(namespace))
    repo_id = f"{namespace}/{name}"
    prefix = "" if repo_type == "model" else f"{repo_type}s/"
    url = f"{hub.endpoint}/{prefix}{repo_id}"
    if (repo_type, repo_id) in hub.repos:
        raise HubError(409, f"You already created this {repo_type} repo", extra={"url": url})
    hub.create_repo(repo_id, repo_type, private=data.get("visibility") == "private")
    return _json({"url": url, "name": repo_id, "id": hashlib.sha1(repo_id.encode()).hexdigest()[:24]})


def _repo_api(
    hub: HubEmulator,
    method: str,
    repo_type: str,
    repo_id: str,
    rest: list[str],
    query: dict[str, list[str]],
    body: bytes,
    token: Token | None,
    raw: str,
) -> Answer:
    verb = rest[0] if rest else ""
    if not rest and method == "GET":
        return _info(hub, hub._readable(token, repo_type, repo_id), "main", token)
    if verb == "revision" and len(rest) >= 2 and method == "GET":
        return _info(hub, hub._readable(token, repo_type, repo_id), "/".join(rest[1:]), token)
    if verb == "settings" and method == "PUT":
        repo = hub._writable(token, repo_type, repo_id)
        data = json.loads(body or b"{}")
        if "visibility" in data:
            repo.private = data["visibility"] == "private"
        if "private" in data:
            repo.private = bool(data["private"])
        if "gated" in data:
            repo.gated = data["gated"]
        return _json({})
    if verb == "auth-check" and method == "GET":
        checked = hub._writable(token, repo_type, repo_id) if rest[1:] == ["write"] else None
        hub._content_access(token, checked or hub._readable(token, repo_type, repo_id))
        return _json({})
    if verb == "refs" and method == "GET":
        repo = hub._readable(token, repo_type, repo_id)
        return _json(
            {
                "branches": [{"name": "main", "ref": "refs/heads/main", "targetCommit": repo.head.oid}],
                "tags": [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": o} for t, o in repo.tags.items()],
                "converts": [],
            }
        )
    if verb == "tree" and len(rest) >= 2 and method == "GET":
        repo = hub._readable(token, repo_type, repo_id)
        return _tree(hub, repo, rest[1], "/".join(rest[2:]), query, raw)
    if verb == "paths-info" and len(rest) >= 2 and method == "POST":
        repo = hub._readable(token, repo_type, repo_id)
        commit = _commit_at(repo, "/".join(rest[1:]))
        form = parse_qs(body.decode(), keep_blank_values=True)
        return _json([e for p in form.get("paths", []) for e in _entries(commit, p.strip("/"), exact=True)])
    if verb == "commits" and len(rest) >= 2 and method == "GET":
        repo = hub._readable(token, repo_type, repo_id)
        commit = _commit_at(repo, "/".join(rest[1:]))
        upto = repo.commits[: repo.commits.index(commit) + 1]
        return _json(
            [
                {
                    "id": c.oid,
                    "title": c.title,
                    "message": c.message,
                    "authors": [{"user": c.author}],
                    "date": c.date,
                    "formatted": {"title": c.title, "message": c.message},
                }
                for c in reversed(upto)
            ]
        )
    if verb == "preupload" and method == "POST":
        repo = hub._writable(token, repo_type, repo_id)
        commit = _commit_at(repo, "/".join(rest[1:]))
        files = json.loads(body or b"{}").get("files", [])
        return _json(
            {
                "files": [
                    {
                        "path": f["path"],
                        "uploadMode": "regular",
                        "shouldIgnore": False,
                        "oid": git_blob_sha(commit.files[f["path"]]) if f["path"] in commit.files else None,
                    }
                    for f in files
                ],
                "commitOid": commit.oid,
            }
        )
    if verb == "commit" and len(rest) >= 2 and method == "POST":
        repo = hub._writable(token, repo_type, repo_id)
        return _commit(hub, repo, "/".join(rest[1:]), body, token)
    if verb == "safetensors-metadata":
        raise HubError(404, "not emulated")
    raise HubError(404, f"no such repo route on the emulator: {raw}")


def _commit_at(repo: Repo, revision: str) -> Commit:
    commit = repo.resolve(unquote(revision))
    if commit is None:
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
    return commit


def _info(hub: HubEmulator, repo: Repo, revision: str, token: Token | None) -> Answer:
    commit = _commit_at(repo, revision)
    card = _card_data(commit.files.get("README.md"))
    tags = [f"license:{card['license']}"] if card and isinstance(card.get("license"), str) else []
    data: dict[str, Any] = {
        "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
        "id": repo.repo_id,
        "author": repo.namespace,
        "sha": commit.oid,
        "lastModified": commit.date,
        "createdAt": repo.created_at,
        "private": repo.private,
        "gated": repo.gated,
        "disabled": repo.disabled,
        "downloads": 0,
        "likes": 0,
        "tags": tags,
        "siblings": [{"rfilename": p} for p in sorted(commit.files)],
        "cardData": card,
    }
    if repo.repo_type == "model":
        header = _safetensors_header(commit.files.get("model.safetensors", b""))
        if header is not None:
            counts: dict[str, int] = {}
            for name, tensor in header.items():
                if name != "__metadata__" and isinstance(tensor, dict):
                    n = 1
                    for dim in tensor.get("shape", []):
                        n *= int(dim)
                    counts[str(tensor.get("dtype"))] = counts.get(str(tensor.get("dtype")), 0) + n
            data["safetensors"] = {"parameters": counts, "total": sum(counts.values())}
    return _json(data)


def _entries(commit: Commit, path: str, *, exact: bool = False, recursive: bool = False) -> Iterator[dict[str, Any]]:
    """Tree entries: the entry at `path` (exact), or the children of folder `path`."""
    files = commit.files
    if exact:
        if path in files:
            yield {"type": "file", "oid": git_blob_sha(files[path]), "size": len(files[path]), "path": path}
        elif any(p.startswith(path + "/") for p in files):
            yield {"type": "directory", "oid": hashlib.sha1(f"tree {path}".encode()).hexdigest(), "path": path}
        return
    prefix = path + "/" if path else ""
    seen: set[str] = set()
    for p in sorted(files):
        if not p.startswith(prefix):
            continue
        rel = p[len(prefix) :].split("/")
        for depth in range(1, len(rel)):
            folder = prefix + "/".join(rel[:depth])
            if folder not in seen and (recursive or depth == 1):
                seen.add(folder)
                yield {"type": "directory", "oid": hashlib.sha1(f"tree {folder}".encode()).hexdigest(), "path": folder}
            if not recursive:
                break
        if len(rel) == 1 or recursive:
            yield {"type": "file", "oid": git_blob_sha(files[p]), "size": len(files[p]), "path": p}


def _tree(hub: HubEmulator, repo: Repo, revision: str, path: str, query: dict[str, list[str]], raw: str) -> Answer:
    commit = _commit_at(repo, revision)
    recursive = query.get("recursive", ["False"])[0].lower() in ("1", "true")
    path = path.strip("/")
    if path and path not in commit.files and not any(p.startswith(path + "/") for p in commit.files):
        raise HubError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": commit.oid})
    entries = list(_entries(commit, path, recursive=recursive))
    start = int(query.get("cursor", ["0"])[0] or 0)
    page = entries[start : start + hub.tree_page_size]
    headers: dict[str, str] = {}
    if start + hub.tree_page_size < len(entries):
        # The client follows Link rel="next" with no other params, so the cursor URL carries them all.
        # It is pinned to the commit the first page read, so a listing never mixes two trees.
        base = raw.replace(f"/tree/{quote(revision, safe='')}", f"/tree/{commit.oid}", 1)
        nxt = f"{hub.endpoint}{base}?recursive={recursive}&expand=False&cursor={start + hub.tree_page_size}"
        headers["Link"] = f'<{nxt}>; rel="next"'
    return _json(page, headers=headers)


def _commit(hub: HubEmulator, repo: Repo, revision: str, body: bytes, token: Token | None) -> Answer:
    if unquote(revision) not in ("main", "refs/heads/main"):
        raise HubError(400, "The emulator only commits to the main branch")
    lines = [json.loads(line) for line in body.splitlines() if line.strip()]
    if not lines or lines[0].get("key") != "header":
        raise HubError(400, "The first line of a commit must be its header")
    header = lines[0]["value"]
    parent = header.get("parentCommit")
    if parent is not None and parent != repo.head.oid:
        raise HubError(412, "A commit has happened since. Please refresh and try again.")
    tree = dict(repo.head.files)
    for line in lines[1:]:
        key, value = line.get("key"), line.get("value") or {}
        path = str(value.get("path", ""))
        if not path or path.startswith("/") or ".." in path.split("/") or "\\" in path:
            raise HubError(400, f"Invalid path in commit: {path!r}")
        if key == "file":
            if value.get("encoding") != "base64":
                raise HubError(400, "Only base64 file content is accepted")
            tree[path] = base64.b64decode(value.get("content", ""))
        elif key == "deletedFile":
            if path not in tree:
                raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
            del tree[path]
        elif key == "deletedFolder":
            folder = path.rstrip("/") + "/"
            doomed = [p for p in tree if p.startswith(folder)]
            if not doomed:
                raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
            for p in doomed:
                del tree[p]
        else:
            raise HubError(400, f"Unsupported commit operation {key!r} (the emulator said 'regular' for every file)")
    assert token is not None
    repo.commits.append(
        hub._new_commit(str(header.get("summary") or ""), str(header.get("description") or ""), token.user, tree)
    )
    prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
    oid = repo.head.oid
    return _json(
        {
            "success": True,
            "commitOid": oid,
            "commitUrl": f"{hub.endpoint}/{prefix}{repo.repo_id}/commit/{oid}",
            "hookOutput": "",
            "pullRequestUrl": None,
        }
    )


def _resolve(
    hub: HubEmulator, repo_type: str, repo_id: str, revision: str, path: str, token: Token | None, req_headers: Any
) -> Answer:
    repo = hub._readable(token, repo_type, repo_id)
    hub._content_access(token, repo)
    commit = _commit_at(repo, revision)
    if path not in commit.files:
        raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.oid})
    content = commit.files[path]
    etag = git_blob_sha(content)
    headers = {
        "Content-Type": "application/octet-stream",
        "ETag": f'"{etag}"',
        "X-Repo-Commit": commit.oid,
        "Accept-Ranges": "bytes",
    }
    status = 200
    match = re.fullmatch(r"bytes=(\d+)-(\d*)", (req_headers.get("Range") or "").strip())
    if match:
        start = int(match.group(1))
        end = min(int(match.group(2)) if match.group(2) else len(content) - 1, len(content) - 1)
        if start >= len(content) and content:
            raise HubError(416, "Requested range not satisfiable", headers={"Content-Range": f"bytes */{len(content)}"})
        headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
        content = content[start : end + 1]
        status = 206
    headers["Content-Length"] = str(len(content))
    return status, headers, content


# --------------------------------------------------------------------- jobs


def _owner(namespace: str) -> dict[str, str]:
    kind = "user" if namespace in (USER, OTHER_USER) else "org"
    return {"id": hashlib.sha1(namespace.encode()).hexdigest()[:24], "name": namespace, "type": kind}


def _check_spec(spec: dict[str, Any]) -> None:
    if not isinstance(spec.get("dockerImage") or spec.get("spaceId"), str):
        raise HubError(400, "A job needs a dockerImage or a spaceId")
    if spec.get("flavor") not in JOB_FLAVORS:
        raise HubError(400, f"Unknown flavor {spec.get('flavor')!r}")
    if not isinstance(spec.get("command"), list) or not all(isinstance(c, str) for c in spec["command"]):
        raise HubError(400, "command must be a list of strings")
    for key in ("environment", "secrets"):
        value = spec.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise HubError(400, f"{key} must map names to strings")


def _public_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec as the API shows it: secret names without their values."""
    out = {k: v for k, v in spec.items() if k != "secrets"}
    out["secrets"] = {name: None for name in spec.get("secrets", {})}
    return out


def _job_json(job: dict[str, Any]) -> dict[str, Any]:
    spec = _public_spec(job["spec"])
    return {
        "id": job["id"],
        "createdAt": job["createdAt"],
        "dockerImage": spec.get("dockerImage"),
        "spaceId": spec.get("spaceId"),
        "command": spec.get("command"),
        "arguments": spec.get("arguments", []),
        "environment": spec.get("environment", {}),
        "secrets": spec["secrets"],
        "flavor": spec.get("flavor"),
        "labels": spec.get("labels"),
        "status": {"stage": job["stage"], "message": None},
        "owner": _owner(job["namespace"]),
        "initiator": job.get("initiator"),
    }


def _jobs(
    hub: HubEmulator,
    method: str,
    parts: list[str],
    query: dict[str, list[str]],
    body: bytes,
    token: Token | None,
    raw: str,
) -> Answer:
    if parts == ["hardware"] and method == "GET":
        return _json(
            [
                {
                    "name": f,
                    "prettyName": f,
                    "cpu": "",
                    "ram": "",
                    "accelerator": None,
                    "unitCostMicroUSD": 0,
                    "unitCostUSD": 0.0,
                    "unitLabel": "minute",
                }
                for f in sorted(JOB_FLAVORS)
            ]
        )
    if not parts:
        raise HubError(404, "no namespace")
    namespace = parts[0]
    if len(parts) == 1 and method == "POST":
        hub._namespace_writer(token, namespace)
        spec = json.loads(body or b"{}")
        _check_spec(spec)
        job = _start_job(hub, namespace, spec, {"type": "user", "id": token.user if token else "", "name": None})
        return _json(_job_json(job))
    if token is None or not hub._member(token, namespace):
        raise HubError(401 if token is None else 403, f"You cannot see the jobs of {namespace}")
    if len(parts) == 1 and method == "GET":
        stages = {s.upper() for s in query.get("stage", [])}
        labels = dict(item.split("=", 1) for item in query.get("label", []) if "=" in item)
        found = [
            _job_json(j)
            for j in hub.jobs.values()
            if j["namespace"] == namespace
            and (not stages or j["stage"] in stages)
            and all((j["spec"].get("labels") or {}).get(k) == v for k, v in labels.items())
        ]
        return _json(found)
    found_job = hub.jobs.get(parts[1]) if len(parts) >= 2 else None
    if found_job is None or found_job["namespace"] != namespace:
        raise HubError(404, "Job not found")
    job = found_job
    if len(parts) == 2 and method == "GET":
        return _json(_job_json(job))
    if parts[2:] == ["cancel"] and method == "POST":
        hub._namespace_writer(token, namespace)
        if job["stage"] in ("SCHEDULING", "RUNNING"):
            job["stage"] = "CANCELED"
        return _json({})
    raise HubError(404, f"no such jobs route on the emulator: {raw}")


def _start_job(hub: HubEmulator, namespace: str, spec: dict[str, Any], initiator: dict[str, Any]) -> dict[str, Any]:
    job_id = hashlib.sha1(f"job {next(hub._ids)}".encode()).hexdigest()[:24]
    job = {
        "id": job_id,
        "namespace": namespace,
        "spec": spec,
        "stage": "RUNNING",
        "createdAt": _now(),
        "initiator": initiator,
    }
    hub.jobs[job_id] = job
    return job


def _scheduled_json(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item["id"],
        "createdAt": item["createdAt"],
        "jobSpec": _public_spec(item["jobSpec"]),
        "schedule": item["schedule"],
        "suspend": item["suspend"],
        "concurrency": item["concurrency"],
        "status": {"lastJob": item.get("lastJob"), "nextJobRunAt": None},
        "owner": _owner(item["namespace"]),
    }


def _scheduled_jobs(hub: HubEmulator, method: str, parts: list[str], body: bytes, token: Token | None) -> Answer:
    if not parts:
        raise HubError(404, "no namespace")
    namespace = parts[0]
    if len(parts) == 1 and method == "POST":
        hub._namespace_writer(token, namespace)
        data = json.loads(body or b"{}")
        spec = data.get("jobSpec") or {}
        _check_spec(spec)
        schedule = data.get("schedule")
        if not isinstance(schedule, str) or not _SCHEDULE.fullmatch(schedule.strip()):
            raise HubError(400, f"Invalid schedule {schedule!r}")
        item: dict[str, Any] = {
            "id": hashlib.sha1(f"scheduled {next(hub._ids)}".encode()).hexdigest()[:24],
            "namespace": namespace,
            "createdAt": _now(),
            "jobSpec": spec,
            "schedule": schedule,
            "suspend": bool(data.get("suspend", False)),
            "concurrency": bool(data.get("concurrency", False)),
        }
        hub.scheduled_jobs[item["id"]] = item
        return _json(_scheduled_json(item))
    if token is None or not hub._member(token, namespace):
        raise HubError(401 if token is None else 403, f"You cannot see the scheduled jobs of {namespace}")
    if len(parts) == 1 and method == "GET":
        return _json([_scheduled_json(s) for s in hub.scheduled_jobs.values() if s["namespace"] == namespace])
    found = hub.scheduled_jobs.get(parts[1]) if len(parts) >= 2 else None
    if found is None or found["namespace"] != namespace:
        raise HubError(404, "Scheduled job not found")
    item = found
    if len(parts) == 2 and method == "GET":
        return _json(_scheduled_json(item))
    hub._namespace_writer(token, namespace)
    if len(parts) == 2 and method == "DELETE":
        del hub.scheduled_jobs[item["id"]]
        return _json({})
    if parts[2:] in (["suspend"], ["resume"]) and method == "POST":
        item["suspend"] = parts[2] == "suspend"
        return _json({})
    if parts[2:] == ["run"] and method == "POST":
        return _json(_job_json(trigger(hub, item["id"])))
    raise HubError(404, "no such scheduled-jobs route on the emulator")


def trigger(hub: HubEmulator, scheduled_job_id: str) -> dict[str, Any]:
    """What the Hub's scheduler does when a schedule fires: start a job from the stored spec."""
    with hub._lock:
        item = hub.scheduled_jobs[scheduled_job_id]
        job = _start_job(hub, item["namespace"], item["jobSpec"], {"type": "scheduled-job", "id": item["id"]})
        item["lastJob"] = {"id": job["id"], "at": job["createdAt"]}
        return job


def point_client_at(
    hub: HubEmulator, monkeypatch: Any, token: str | None = WRITE_TOKEN, cache_dir: str | None = None
) -> None:
    """Make this process's huggingface_hub talk to `hub`, and subprocesses too (through the environment).

    huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE once, at import, into `huggingface_hub.constants`
    (and builds the module-level `HfApi` behind `huggingface_hub.whoami`, `create_repo`... then), so
    setting the environment alone is too late for this process: patch the constants as well.
    """
    import huggingface_hub
    from huggingface_hub import constants, hf_api

    for name, value in hub.env(token).items():
        monkeypatch.setenv(name, value)
    if token is None:
        monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "ENDPOINT", hub.endpoint)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(constants, "HF_URL_HOSTS", constants.HF_URL_HOSTS | {hub.host})
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setattr(hf_api.api, "endpoint", hub.endpoint)
    if cache_dir is not None:
        monkeypatch.setenv("HF_HUB_CACHE", cache_dir)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", cache_dir)
    assert hub.endpoint == huggingface_hub.constants.ENDPOINT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.hub_emulator", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    hub = HubEmulator(args.host, args.port).start()
    print(
        json.dumps(
            {"endpoint": hub.endpoint, "write_token": WRITE_TOKEN, "read_token": READ_TOKEN, "user": USER, "org": ORG}
        ),
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        hub.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
