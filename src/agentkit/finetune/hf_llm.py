"""``hf://`` LLM backend: a Hugging Face model (plus an optional LoRA adapter) run with transformers in-process.

Specs: ``hf://default`` (the embedded SmolLM2, dequantized), ``hf:///abs/path/model``, ``hf://default?adapter=/path``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
        self._lock = threading.Lock()

    @classmethod
    def from_spec(cls, spec: Spec, options: HFOptions) -> HFLLM:
        adapter = options.adapter
        if spec.fragment.startswith("adapter="):  # the old form, hf://BASE#adapter=DIR
            adapter = adapter or spec.fragment.partition("=")[2]
            warn_deprecated(f"hf://...#adapter={adapter}", f"hf://{spec.target}?adapter={adapter}")
        return cls(spec.target or "default", adapter, options.n_ctx, spec.raw)

    def warm_up(self) -> None:
        self._load()

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._model is None:
                from agentkit.finetune.base import load_model, resolve_base

                self._model, self._tokenizer = load_model(resolve_base(self.base_arg), self.adapter)
        return self._model, self._tokenizer

    def count_tokens(self, text: str) -> int:
        _, tokenizer = self._load()
        return len(tokenizer.encode(text, add_special_tokens=False))

    def _stream(self, messages: list[Message], params: GenerationParams, info: StreamInfo) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        model, tokenizer = self._load()
        inputs = tokenizer.apply_chat_template([m.to_dict() for m in messages], add_generation_prompt=True, return_tensors="pt", return_dict=True)
        info.prompt_tokens = int(inputs["input_ids"].shape[1])
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs: dict[str, Any] = dict(**inputs, max_new_tokens=params.max_tokens, streamer=streamer, repetition_penalty=params.repeat_penalty, pad_token_id=tokenizer.eos_token_id)
        if params.temperature > 0:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
            if params.seed is not None:
                torch.manual_seed(params.seed)
        else:
            kwargs.update(do_sample=False)
        result: dict[str, Any] = {}

        def run() -> None:
            with self._lock, torch.no_grad():
                result["out"] = model.generate(**kwargs)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        count = 0
        for piece in streamer:
            if piece:
                count += 1
                yield piece
        worker.join()
        generated = int(result["out"].shape[1] - info.prompt_tokens) if "out" in result else count
        info.completion_tokens = generated
        info.finish_reason = "length" if generated >= params.max_tokens else "stop"
