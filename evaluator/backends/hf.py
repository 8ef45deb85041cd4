"""The `hf:` backend: transformers on CPU or one GPU, for small models and the test checkpoint.

torch and transformers are imported inside the methods that need them: the Space imports the
backends package and must never pull in torch.

What a submission must satisfy is checked before any weights are loaded, so a refusal is cheap
and says exactly what is wrong: safetensors weights only (pickled weights can run code on
load), no custom modelling code, and a tokenizer with a chat template (PROTOCOL section 6).
A Hub model is pinned to the commit its revision resolved to, so the tokenizer, the weights
and the recorded revision all come from the same commit.

A local GGUF checkpoint is named by its file: `hf:/path/to/model.gguf`. GGUF holds tensors and
metadata only (no pickled code), and carries its own tokenizer and chat template; transformers
reads it with `gguf_file=` (the gguf package) and de-quantizes it to the dtype asked for, so it
runs as the float model it was quantized from. Its revision is the file's content hash.
Rebuilding a config from a GGUF's metadata takes seconds (most architectures, Llama among them,
go through transformers' legacy reader, which parses every entry, the whole vocabulary too), and
AutoTokenizer and the model loader would each do it again: the config is read once and handed
to both.

On CUDA the backend fills the GPU (measured on an H200: a batch of 8 on the dynamic cache kept
its SMs 9% busy): it generates with transformers' static KV cache (`cache_implementation=
"static"`, whose forward transformers compiles itself on CUDA, once per shape), with prompts
left-padded to a few bucket widths and batches to a power of two of rows, so the compiled shapes
are few and paid once per model and worker. The batch size is `auto` there: the largest batch whose
KV cache for the longest bucket plus max_new_tokens fits the free memory, halved on out-of-memory
and remembered. On CPU the path is today's: dynamic cache, batches of `batch_size` (8).
"""

from __future__ import annotations

import gc
import hashlib
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluator.backends.base import (
    BackendError,
    Conversation,
    GenerationParams,
    ModelInfo,
    OnReply,
    Reply,
    with_system_prompt,
)
from evaluator.backends.spec import BackendSpec

HUB_TIMEOUT_S = 15.0
NO_TEMPLATE = "has no chat template; submit a chat model whose tokenizer defines one"
NO_SAFETENSORS = "has no safetensors weights; only safetensors are accepted"
# Files that decide what a local checkpoint generates; anything else in the directory (a README,
# a duplicate pickled copy of the weights) must not change its content hash nor cost time.
_HASHED_SUFFIXES = (".safetensors", ".json", ".jinja", ".model", ".txt", ".tiktoken")
_TRUE = {"1", "ON", "YES", "TRUE"}
AUTO_BATCH = 0  # batch_size=0: sized from the free GPU memory on CUDA, CPU_BATCH on CPU
CPU_BATCH = 8
MAX_AUTO_BATCH = 256
# Prompt widths are padded up to a multiple of this (powers of two below it): few static shapes.
BUCKET = 128
# Share of the free GPU memory the KV cache may take; the rest is for activations and the allocator.
KV_SHARE = 0.7


@dataclass(frozen=True, slots=True)
class HubModel:
    repo_id: str
    sha: str
    files: tuple[str, ...]


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def hub_offline() -> bool:
    """HF_HUB_OFFLINE as set now: huggingface_hub reads it once at import, which may be too early."""
    if any(os.environ.get(name, "").strip().upper() in _TRUE for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")):
        return True
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(constants.is_offline_mode())


def is_connection_error(exc: BaseException) -> bool:
    """True when `exc`, or anything it was raised from, means the Hub could not be reached.

    transformers re-raises network failures as OSError with its own message, and httpx's
    transport errors do not derive from the builtin ConnectionError, hence the walk and the
    match on class names rather than on one library's exception types.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionError | TimeoutError):
            return True
        if any(cls.__name__ in {"TransportError", "OfflineModeIsEnabled"} for cls in type(current).__mro__):
            return True
        current = current.__cause__ or current.__context__
    return False


def unreachable(repo_id: str, cause: BaseException | str) -> BackendError:
    reason = cause if isinstance(cause, str) else _one_line(cause)
    return BackendError(f"cannot reach the Hugging Face Hub to load {repo_id}: {reason}")


def resolve_hub_model(repo_id: str, revision: str | None) -> HubModel:
    """The commit a Hub revision points to and the files in it, failing fast when offline.

    One metadata request with a short timeout, instead of letting the loader discover a dead
    network through its own retries. Pinning the commit also keeps transformers from asking the
    Hub's conversion bot for safetensors, which it only tries for the "main" branch.
    """
    if hub_offline():
        raise unreachable(repo_id, "offline mode is enabled (HF_HUB_OFFLINE=1)")
    try:
        from huggingface_hub import HfApi
        from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError
    except ImportError as exc:
        raise BackendError(f"huggingface_hub is not installed: {exc}") from None
    try:
        info = HfApi().model_info(repo_id, revision=revision, timeout=HUB_TIMEOUT_S)
    except RevisionNotFoundError:
        raise BackendError(f"{repo_id} has no revision {revision!r} on the Hugging Face Hub") from None
    except RepositoryNotFoundError:
        raise BackendError(
            f"{repo_id} is not on the Hugging Face Hub, or is private or gated for this worker"
        ) from None
    except HfHubHTTPError as exc:
        if is_connection_error(exc):
            raise unreachable(repo_id, exc) from None
        raise BackendError(f"the Hugging Face Hub refused {repo_id}: {_one_line(exc)}") from None
    except Exception as exc:
        # Anything else from a metadata request (DNS, TLS, timeouts, proxies) means the same thing.
        raise unreachable(repo_id, exc) from None
    if not info.sha:
        raise BackendError(f"the Hugging Face Hub returned no commit for {repo_id}")
    files = tuple(sorted(s.rfilename for s in info.siblings or ()))
    return HubModel(repo_id=repo_id, sha=info.sha, files=files)


def has_safetensors(files: Iterable[str]) -> bool:
    # Only top-level weights count: that is where from_pretrained looks without a subfolder.
    return any("/" not in name and name.endswith((".safetensors", ".safetensors.index.json")) for name in files)


def local_content_hash(directory: Path) -> str:
    """A stand-in for a commit SHA: the same files give the same revision, any edit a new one."""
    digest = hashlib.sha256()
    paths = [p for p in directory.iterdir() if p.is_file() and p.name.endswith(_HASHED_SUFFIXES)]
    templates = directory / "chat_templates"
    if templates.is_dir():
        paths += [p for p in templates.iterdir() if p.is_file()]
    for path in sorted(paths, key=lambda p: p.relative_to(directory).as_posix()):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return "sha256:" + digest.hexdigest()


def file_content_hash(path: Path) -> str:
    """The revision of a single-file checkpoint (GGUF): its bytes' hash."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def load_error(name: str, what: str, exc: Exception, *, remote: bool) -> BackendError:
    """A one-line reason why `what` ("tokenizer", "weights") of model `name` did not load."""
    if remote and is_connection_error(exc):
        return unreachable(name, exc)
    if "trust_remote_code" in str(exc):
        return BackendError(
            f"{name} needs its own modelling code (trust_remote_code), which is not accepted; "
            "submit a model whose architecture is built into transformers"
        )
    return BackendError(f"cannot load the {what} of {name}: {_one_line(exc)}")


def load_gguf_config(directory: str, gguf_file: str, *, name: str) -> Any:
    """The transformers config of a local GGUF file, from its metadata."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(directory, gguf_file=gguf_file, trust_remote_code=False)
    except Exception as exc:
        raise load_error(name, "config", exc, remote=False) from None


def gguf_tokenizer_class(directory: str, config: Any) -> Any | None:
    """The class AutoTokenizer would pick for a GGUF file of this config, when the config decides it.

    AutoTokenizer re-reads a GGUF's whole metadata to rebuild the config even when given one.
    With no tokenizer_config.json beside the file and no class named in the config, what it picks
    is the class registered for the config's type, TokenizersBackend when none is. Anything else
    (such a file, Mistral's own tokenizer) gives None: AutoTokenizer's full rules then decide.
    """
    from transformers import TokenizersBackend
    from transformers.models.auto.tokenization_auto import TOKENIZER_MAPPING

    if (Path(directory) / "tokenizer_config.json").exists() or getattr(config, "tokenizer_class", None):
        return None
    chosen = TOKENIZER_MAPPING.get(type(config), TokenizersBackend)
    if not isinstance(chosen, type) or chosen.__name__ == "MistralCommonBackend":
        return None
    return chosen


def load_chat_tokenizer(
    source: str,
    revision: str | None,
    *,
    name: str,
    remote: bool,
    gguf_file: str | None = None,
    gguf_config: Any = None,
) -> Any:
    """The tokenizer at `source`, refused unless it has a chat template (PROTOCOL section 6).

    `gguf_config`, with `gguf_file`, is the file's config from load_gguf_config: given it, the
    tokenizer is built from the file's metadata without the config being rebuilt a second time.
    """
    from transformers import AutoTokenizer

    try:
        chosen = gguf_tokenizer_class(source, gguf_config) if gguf_file and gguf_config is not None else None
        if chosen is not None:
            tokenizer = chosen.from_pretrained(source, gguf_file=gguf_file)
        else:
            extra = {"gguf_file": gguf_file} if gguf_file else {}
            tokenizer = AutoTokenizer.from_pretrained(source, revision=revision, trust_remote_code=False, **extra)
    except Exception as exc:
        raise load_error(name, "tokenizer", exc, remote=remote) from None
    try:
        tokenizer.get_chat_template()
    except ValueError:
        raise BackendError(f"{name} {NO_TEMPLATE}") from None
    return tokenizer


def bucket_width(width: int) -> int:
    """The padded width of a prompt of `width` tokens: a power of two up to BUCKET, then multiples of it."""
    if width <= BUCKET:
        return max(16, 1 << (width - 1).bit_length())
    return -(-width // BUCKET) * BUCKET


class HFBackend:
    def __init__(
        self,
        spec: BackendSpec,
        batch_size: int = CPU_BATCH,
        device: str | None = None,
        *,
        static_cache: bool | None = None,
    ) -> None:
        """`batch_size` AUTO_BATCH (0): sized from free GPU memory on CUDA, CPU_BATCH on CPU.
        `static_cache`: None picks it on CUDA only (a test sets True to run that path on CPU)."""
        if spec.kind != "hf":
            raise BackendError(f"HFBackend runs hf: specs, not {spec}")
        if batch_size < 0:
            raise BackendError(f"batch_size must be at least 1 (or auto), got {batch_size}")
        self._spec = spec
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise BackendError(
                f"the hf: backend needs torch and transformers ({exc}); pip install -r requirements-dev.txt"
            ) from None

        self._device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        on_cuda = str(self._device).startswith("cuda")
        self._static = on_cuda if static_cache is None else static_cache
        self._auto = batch_size == AUTO_BATCH and on_cuda
        self._batch_size = batch_size or CPU_BATCH  # with auto on CUDA: the largest batch known to fit
        self._fitted: int | None = None
        source, revision, where = self._resolve_source(spec)
        self._gguf_file = Path(spec.target).name if where == "local-gguf" else None
        # Read once, for the tokenizer and the weights: each would otherwise rebuild it from the file.
        self._gguf_config = load_gguf_config(source, self._gguf_file, name=spec.target) if self._gguf_file else None
        self._tokenizer = self._load_tokenizer(source, revision)
        self._model = self._load_model(source, revision)
        if revision is None:
            # Hashed only now, so that a refusal never waits for gigabytes of weights to be read.
            revision = (
                file_content_hash(Path(source) / self._gguf_file)
                if self._gguf_file
                else local_content_hash(Path(source))
            )
        self._eos_ids = self._end_token_ids()
        pad = self._tokenizer.pad_token_id
        self._pad_id: int = pad if pad is not None else (self._eos_ids[0] if self._eos_ids else 0)
        self._reset_generation_defaults()
        self._context = self._context_length()

        template = self._tokenizer.get_chat_template()
        self._info = ModelInfo(
            spec=str(spec),
            model=spec.target,
            revision=revision,
            model_type="open-weight",
            details={
                "backend": "hf",
                "source": where,
                **({"format": "gguf", "file": self._gguf_file} if self._gguf_file else {}),
                "requested_revision": spec.revision,
                "architecture": type(self._model).__name__,
                "dtype": str(self._model.dtype).removeprefix("torch."),
                "device": str(self._device),
                "parameters": int(sum(p.numel() for p in self._model.parameters())),
                "context_length": self._context,
                "eos_token_ids": list(self._eos_ids),
                "batch_size": "auto" if self._auto else self._batch_size,
                **({"kv_cache": "static"} if self._static else {}),
                "chat_template_sha256": hashlib.sha256(template.encode()).hexdigest(),
                "transformers": transformers.__version__,
                "torch": torch.__version__,
            },
        )

    @property
    def info(self) -> ModelInfo:
        return self._info

    # -- loading ---------------------------------------------------------------------------

    @staticmethod
    def _resolve_source(spec: BackendSpec) -> tuple[str, str | None, str]:
        """(what to load from, the pinned commit or None when local, "local" | "local-gguf" | "hub")."""
        if spec.is_local_path and spec.target.endswith(".gguf"):
            path = Path(spec.target).expanduser().resolve()
            if not path.is_file():
                raise BackendError(f"{spec.target} is not a file")
            return str(path.parent), None, "local-gguf"
        if spec.is_local_path:
            directory = Path(spec.target).expanduser().resolve()
            if not directory.is_dir():
                raise BackendError(f"{spec.target} is not a directory")
            names = [p.name for p in directory.iterdir() if p.is_file()]
            if not has_safetensors(names):
                raise BackendError(f"{spec.target} {NO_SAFETENSORS}")
            return str(directory), None, "local"
        hub = resolve_hub_model(spec.target, spec.revision)
        if not has_safetensors(hub.files):
            raise BackendError(f"{spec.target} {NO_SAFETENSORS}")
        return spec.target, hub.sha, "hub"

    def _load_tokenizer(self, source: str, revision: str | None) -> Any:
        return load_chat_tokenizer(
            source,
            revision,
            name=self._spec.target,
            remote=not self._spec.is_local_path,
            gguf_file=self._gguf_file,
            gguf_config=self._gguf_config,
        )

    def _load_model(self, source: str, revision: str | None) -> Any:
        import torch
        from transformers import AutoModelForCausalLM

        # float32 on CPU: half-precision matmuls there are slow or missing. It is also what a
        # quantized GGUF de-quantizes to at no cost (transformers' own pick for one), where any
        # other dtype adds a cast of every tensor. On a GPU the checkpoint's own dtype, which is
        # what the model was meant to run in.
        dtype: Any = torch.float32 if str(self._device) == "cpu" else "auto"
        # GGUF is its own safe format; every other checkpoint must be safetensors.
        weights: dict[str, Any] = {"use_safetensors": True}
        if self._gguf_file:
            weights = {"gguf_file": self._gguf_file, "config": self._gguf_config}
        if self._gguf_file and dtype == "auto":
            # De-quantized weights have no type of their own to keep ("auto" gives float32 for a
            # quantized file): bfloat16 halves the memory, in the type GPUs compute fastest in.
            dtype = torch.bfloat16
        try:
            model: Any = AutoModelForCausalLM.from_pretrained(
                source,
                revision=revision,
                trust_remote_code=False,
                dtype=dtype,
                **weights,
            )
            model.to(self._device)
        except Exception as exc:
            raise load_error(self._spec.target, "weights", exc, remote=not self._spec.is_local_path) from None
        model.eval()
        return model

    def _end_token_ids(self) -> tuple[int, ...]:
        """Every token that ends a reply: chat models often end turns with a token other than eos."""
        ids: list[int] = []
        declared = self._model.generation_config.eos_token_id
        for value in [*(declared if isinstance(declared, list) else [declared]), self._tokenizer.eos_token_id]:
            if isinstance(value, int) and value not in ids:
                ids.append(value)
        return tuple(ids)

    def _reset_generation_defaults(self) -> None:
        """Drop the checkpoint's sampling defaults (repetition penalty, top_k...).

        transformers fills whatever a call leaves unset from them; PROTOCOL runs every model with
        the same recorded parameters, as the vllm: backend does with explicit sampling parameters.
        """
        from transformers import GenerationConfig

        self._model.generation_config = GenerationConfig(
            eos_token_id=list(self._eos_ids) or None,
            bos_token_id=self._tokenizer.bos_token_id,
            pad_token_id=self._pad_id,
        )

    def _context_length(self) -> int | None:
        config = self._model.config
        text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
        value = getattr(text_config, "max_position_embeddings", None)
        return value if isinstance(value, int) and value > 0 else None

    # -- generation ------------------------------------------------------------------------

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams, on_reply: OnReply | None = None
    ) -> list[Reply]:
        if self._model is None:
            raise BackendError(f"{self._spec} is closed")
        replies: list[Reply | None] = [None] * len(conversations)

        def emit(index: int, reply: Reply) -> None:
            replies[index] = reply
            if on_reply:
                on_reply(index, reply)

        prompts: list[tuple[int, list[int], int]] = []  # (index, prompt ids, token budget)
        for index, conversation in enumerate(conversations):
            try:
                ids = self._encode(with_system_prompt(conversation, params))
                prompts.append((index, ids, self._budget(len(ids), params.max_new_tokens)))
            except Exception as exc:
                emit(index, Reply.failed(exc))

        if self._auto and prompts:
            self._size_batch(max(len(ids) for _, ids, _ in prompts), params.max_new_tokens)
        pending = self._batches(prompts)
        while pending:
            batch = pending.pop(0)
            try:
                results = self._run_with_fallback(batch, params, out_of_memory_raises=self._auto)
            except _OutOfMemory:
                # Halve, remember, and cut what is left again at the new size.
                self._free_memory()
                if self._batch_size == 1:
                    results = [
                        (item[0], Reply.failed("OutOfMemoryError: one conversation alone does not fit"))
                        for item in batch
                    ]
                else:
                    self._batch_size = max(1, self._batch_size // 2)
                    self._fitted = self._batch_size
                    pending = self._batches([p for b in [batch, *pending] for p in b])
                    continue
            for index, reply in results:
                emit(index, reply)

        done = [r for r in replies if r is not None]
        if len(done) != len(replies):
            raise RuntimeError("internal error: a conversation got no reply")
        return done

    def _encode(self, messages: list[dict[str, str]]) -> list[int]:
        encoded = self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True
        )
        ids = [int(t) for t in encoded["input_ids"]]
        if not ids:
            raise ValueError("the chat template rendered an empty prompt")
        return ids

    def _budget(self, prompt_tokens: int, max_new_tokens: int) -> int:
        """New tokens this prompt may have: fewer than asked near the end of the context."""
        if self._context is None:
            return max_new_tokens
        room = self._context - prompt_tokens
        if room <= 0:
            raise ValueError(f"the conversation is {prompt_tokens} tokens, over the model's context of {self._context}")
        return min(max_new_tokens, room)

    def _size_batch(self, longest: int, max_new_tokens: int) -> None:
        """Auto batch size on CUDA: what the free memory holds of KV cache for the longest bucket
        plus max_new_tokens, unless a smaller size was already found to be what fits."""
        import torch

        free, _ = torch.cuda.mem_get_info(torch.device(self._device))
        per_sequence = self._kv_bytes_per_token() * (bucket_width(longest) + max_new_tokens)
        fits = max(1, min(MAX_AUTO_BATCH, int(free * KV_SHARE // max(1, per_sequence))))
        self._batch_size = fits if self._fitted is None else min(fits, self._fitted)

    def _kv_bytes_per_token(self) -> int:
        config = self._model.config
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        heads = int(getattr(text, "num_attention_heads", 1) or 1)
        kv_heads = int(getattr(text, "num_key_value_heads", None) or heads)
        head_dim = int(getattr(text, "head_dim", None) or (int(text.hidden_size) // heads))
        layers = int(text.num_hidden_layers)
        return 2 * layers * kv_heads * head_dim * self._model.dtype.itemsize

    def _batches(self, prompts: list[tuple[int, list[int], int]]) -> list[list[tuple[int, list[int], int]]]:
        # Longest first: similar lengths share a batch (less padding), and a batch that runs out
        # of memory does so at the start of a run rather than at its end. (With the static cache
        # a batch's shape is its rows and its longest prompt, each rounded up in _run: a whole set
        # that fits one batch stays one batch, as wide as the GPU allows.)
        ordered = sorted(prompts, key=lambda p: (-len(p[1]), p[0]))
        batches: list[list[tuple[int, list[int], int]]] = []
        for prompt in ordered:
            last = batches[-1] if batches else None
            if last is not None and len(last) < self._batch_size and last[0][2] == prompt[2]:
                last.append(prompt)
            else:
                batches.append([prompt])
        return batches

    def _run_with_fallback(
        self, batch: list[tuple[int, list[int], int]], params: GenerationParams, *, out_of_memory_raises: bool = False
    ) -> list[tuple[int, Reply]]:
        try:
            return self._run(batch, params, attempts=1)
        except Exception as exc:
            self._free_memory()
            if out_of_memory_raises and _is_out_of_memory(exc):
                raise _OutOfMemory from exc
            if len(batch) == 1:
                return [(batch[0][0], Reply.failed(exc))]
        # One conversation must not sink its batch: retry each alone and fail only the culprits.
        results: list[tuple[int, Reply]] = []
        for item in batch:
            try:
                results.extend(self._run([item], params, attempts=2))
            except Exception as exc:
                self._free_memory()
                results.append((item[0], Reply.failed(exc, attempts=2)))
        return results

    def _run(
        self, batch: list[tuple[int, list[int], int]], params: GenerationParams, *, attempts: int
    ) -> list[tuple[int, Reply]]:
        import torch
        from transformers import GenerationConfig

        budget = batch[0][2]
        width = max(len(ids) for _, ids, _ in batch)
        rows = len(batch)
        if self._static:
            # Few compiled shapes: the width padded up to its bucket, the rows to a power of two
            # within the batch size (the extra rows repeat the first prompt; their tokens are dropped).
            padded = bucket_width(width)
            # Never past the model's context: the cache holds the padded width plus the budget.
            width = padded if self._context is None else max(width, min(padded, self._context - budget))
            rows = min(1 << (rows - 1).bit_length(), max(rows, self._batch_size))
        input_ids = torch.full((rows, width), self._pad_id, dtype=torch.long)
        attention_mask = torch.zeros((rows, width), dtype=torch.long)
        filled = [*batch, *[batch[0]] * (rows - len(batch))]
        for row, (_, ids, _) in enumerate(filled):
            # Left padding: every row's last prompt token sits in the same column, where
            # generation continues.
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, width - len(ids) :] = 1

        options: dict[str, Any] = {"max_new_tokens": budget, "do_sample": False}
        if not params.deterministic:
            # top_k=0 turns off transformers' default top-k of 50, which vLLM and APIs do not apply.
            options.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
            torch.manual_seed(params.seed)
        if self._static:
            # transformers' own static cache; it compiles the forward itself on CUDA (not on CPU).
            options["cache_implementation"] = "static"
        config = GenerationConfig(eos_token_id=list(self._eos_ids) or None, pad_token_id=self._pad_id, **options)
        start = time.perf_counter()
        with torch.inference_mode():
            output = self._model.generate(
                input_ids=input_ids.to(self._device),
                attention_mask=attention_mask.to(self._device),
                generation_config=config,
            )
        latency = (time.perf_counter() - start) / len(batch)

        results = []
        for row, (index, ids, _) in enumerate(batch):
            new_tokens = [int(t) for t in output[row, width:].tolist()]
            results.append((index, self._reply(new_tokens, len(ids), latency, attempts)))
        return results

    def _reply(self, new_tokens: list[int], prompt_tokens: int, latency: float, attempts: int) -> Reply:
        stop_at = next((i for i, token in enumerate(new_tokens) if token in self._eos_ids), None)
        # Rows that stop early are padded to the batch's length; the first end token is where
        # this reply ends, and it counts as generated, as it does for vLLM and the APIs.
        tokens = new_tokens if stop_at is None else new_tokens[: stop_at + 1]
        return Reply(
            text=self._tokenizer.decode(tokens, skip_special_tokens=True),
            prompt_tokens=prompt_tokens,
            completion_tokens=len(tokens),
            finish_reason="length" if stop_at is None else "stop",
            latency_s=latency,
            attempts=attempts,
        )

    def _free_memory(self) -> None:
        gc.collect()
        if str(self._device).startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    def close(self) -> None:
        self._model = None
        self._tokenizer = None
        self._free_memory()


class _OutOfMemory(Exception):
    """A batch that did not fit the GPU: the caller halves the batch size."""


def _is_out_of_memory(exc: BaseException) -> bool:
    torch_oom = type(exc).__name__ == "OutOfMemoryError"
    return torch_oom or "CUDA out of memory" in str(exc)
