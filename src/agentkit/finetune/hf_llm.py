"""``hf://`` LLM backend: a Hugging Face model (plus an optional LoRA adapter) run with transformers in-process.

Specs: ``hf://default`` (the embedded SmolLM2, dequantized), ``hf:///abs/path/model``, ``hf://default?adapter=/path``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentkit.errors import BackendUnavailableError, LLMTimeoutError
from agentkit.llm.base import LLM, GenerationParams, Message, StreamInfo
from agentkit.spec import Spec, warn_deprecated


@dataclass(frozen=True)
class HFOptions:
    """``hf://BASE?adapter=DIR&n_ctx=2048`` (BASE: ``default`` or a model directory)."""

    adapter: str | None = None
    n_ctx: int = 2048


class HFLLM(LLM):
    def __init__(self, base: str | Path = "default", adapter: str | Path | None = None, context_window: int = 2048, spec: str = "") -> None:
        self.base_arg = str(base)
        self.adapter = str(adapter) if adapter else None
        self.context_window = context_window
        self.spec = spec or f"hf://{self.base_arg}" + (f"?adapter={self.adapter}" if self.adapter else "")
        self._model: Any = None
        self._tokenizer: Any = None
        self._load_lock = threading.Lock()
        # Generations take turns on the one model; a separate lock, so that loading and counting tokens never
        # wait for another caller's generation (a waiting caller's stream timeout must be able to fire).
        self._generate_lock = threading.Lock()

    @classmethod
    def from_spec(cls, spec: Spec, options: HFOptions) -> HFLLM:
        adapter = options.adapter
        if spec.fragment.startswith("adapter="):  # the old form, hf://BASE#adapter=DIR
            adapter = adapter or spec.fragment.partition("=")[2]
            warn_deprecated(f"hf://...#adapter={adapter}", f"hf://{spec.target}?adapter={adapter}")
        from agentkit.finetune.base import check_adapter, check_base

        check_base(spec.target or "default")  # a missing model, tokenizer or adapter fails here, not at the first token
        check_adapter(adapter)
        return cls(spec.target or "default", adapter, options.n_ctx, spec.raw)

    def warm_up(self) -> None:
        self._load()

    def _load(self) -> tuple[Any, Any]:
        with self._load_lock:
            if self._model is None:
                from agentkit.finetune.base import load_model, resolve_base

                self._model, self._tokenizer = load_model(resolve_base(self.base_arg), self.adapter)
        return self._model, self._tokenizer

    def count_tokens(self, text: str) -> int:
        _, tokenizer = self._load()
        return len(tokenizer.encode(text, add_special_tokens=False))

    def _stream(self, messages: list[Message], params: GenerationParams, info: StreamInfo) -> Iterator[str]:
        """Generation runs in a worker thread that feeds a streamer. An error there ends the stream and is
        raised here; a stream silent for ``params.timeout`` seconds raises ``LLMTimeoutError``. Either way,
        and when the caller stops reading, the worker is told to stop at its next token."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        model, tokenizer = self._load()
        inputs = tokenizer.apply_chat_template([m.to_dict() for m in messages], add_generation_prompt=True, return_tensors="pt", return_dict=True)
        info.prompt_tokens = int(inputs["input_ids"].shape[1])
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=params.timeout)
        cancel = threading.Event()

        class Cancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), cancel.is_set(), dtype=torch.bool, device=input_ids.device)

        kwargs: dict[str, Any] = dict(**inputs, max_new_tokens=params.max_tokens, streamer=streamer, repetition_penalty=params.repeat_penalty,
                                      pad_token_id=tokenizer.eos_token_id, stopping_criteria=StoppingCriteriaList([Cancelled()]))
        sampling = params.temperature > 0
        if sampling:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        else:
            kwargs.update(do_sample=False)
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                with self._generate_lock, torch.no_grad():
                    if cancel.is_set():  # the caller gave up while this waited for its turn
                        return
                    if sampling and params.seed is not None:
                        torch.manual_seed(params.seed)  # torch's generator is process-wide: seed it in our turn
                    result["out"] = model.generate(**kwargs)
            except BaseException as exc:  # handed to the reading thread, which would otherwise wait for ever
                result["error"] = exc
                streamer.end()

        worker = threading.Thread(target=run, daemon=True, name="agentkit-hf-generate")
        worker.start()
        count = 0
        try:
            for piece in streamer:
                if piece:
                    count += 1
                    yield piece
        except queue.Empty:
            raise LLMTimeoutError(
                f"{self.spec} produced nothing for {params.timeout:g} s", "raise the timeout (GenerationParams(timeout=...) or --timeout) or lower max_tokens"
            ) from None
        finally:
            cancel.set()
        worker.join()
        if "error" in result:
            exc = result["error"]
            raise BackendUnavailableError(f"{self.spec} failed while generating: {type(exc).__name__}: {exc}", "check the model files and the generation options") from exc
        generated = int(result["out"].shape[1] - info.prompt_tokens) if "out" in result else count
        info.completion_tokens = generated
        info.finish_reason = "length" if generated >= params.max_tokens else "stop"
