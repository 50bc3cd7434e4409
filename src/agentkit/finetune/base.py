"""Base models for fine-tuning: the embedded GGUF (dequantized once into a Hugging Face directory, cached) or a
local Hugging Face model directory."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

from agentkit.cache_dir import default_cache_dir
from agentkit.chunking.tokenizers import HF_TOKENIZER_FILES as TOKENIZER_FILES
from agentkit.errors import ModelNotFoundError

_lock = threading.Lock()


def check_base(spec: str | Path | None) -> None:
    """What ``resolve_base`` would refuse, found without loading or converting anything: a missing path, a file
    that is not a GGUF, a directory without ``config.json`` or without a tokenizer."""
    from agentkit.llm.llama_cpp import embedded_model_path

    if spec in (None, "", "default", "llama-cpp://default"):
        embedded_model_path()
        return
    path = Path(str(spec)).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return
    if path.is_dir() and (path / "config.json").exists():
        if not any((path / name).exists() for name in TOKENIZER_FILES):
            raise ModelNotFoundError(f"the model directory {spec} has no tokenizer (none of {', '.join(TOKENIZER_FILES)})",
                                     "copy the tokenizer files next to config.json (tokenizer.save_pretrained(DIR))")
        return
    raise ModelNotFoundError(f"base model not found: {spec}", "pass 'default' (the embedded SmolLM2), a .gguf file, or a Hugging Face model directory with config.json")


def resolve_base(spec: str | Path | None) -> Path:
    """A Hugging Face model directory for ``spec``: ``default`` / ``None`` (the embedded SmolLM2 GGUF), a ``.gguf``
    file (dequantized into ``~/.cache/agentkit/models/``), or a directory with ``config.json`` and a tokenizer."""
    from agentkit.llm.llama_cpp import embedded_model_path

    check_base(spec)
    if spec in (None, "", "default", "llama-cpp://default"):
        return _from_gguf(embedded_model_path())
    path = Path(str(spec)).expanduser()
    if path.is_file():
        return _from_gguf(path)
    return path


def check_adapter(adapter: str | Path | None) -> None:
    if adapter and not (Path(adapter) / "adapter_config.json").exists():
        raise ModelNotFoundError(f"no LoRA adapter in {adapter}", "point at the adapter directory written by agentkit finetune")


def _from_gguf(gguf: Path) -> Path:
    stat = gguf.stat()
    key = hashlib.sha1(f"{gguf.resolve()}|{stat.st_size}|{int(stat.st_mtime)}".encode()).hexdigest()[:12]
    target = default_cache_dir() / "models" / f"{gguf.stem}-{key}"
    with _lock:
        if not (target / "config.json").exists():
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            # The dequantized weights are plain float32, but transformers marks a GGUF-loaded model as
            # "quantized" and refuses to save it: copy the weights into a fresh model of the same config.
            config = loaded.config
            if hasattr(config, "quantization_config"):
                delattr(config, "quantization_config")
            model = AutoModelForCausalLM.from_config(config)
            model.load_state_dict(loaded.state_dict())
            tmp = target.with_name(target.name + ".partial")
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            tmp.rename(target)  # only a complete directory ever appears under the final name
    return target


def load_model(base: Path, adapter: str | Path | None = None, merge: bool = False) -> tuple[Any, Any]:
    """(model, tokenizer) on CPU (or CUDA when present), with a LoRA adapter applied when given."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    check_adapter(adapter)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(base))
    except (OSError, ValueError) as exc:  # transformers says "couldn't instantiate the backend tokenizer" in a page of text
        raise ModelNotFoundError(f"cannot load the tokenizer of {base}: {str(exc).strip().splitlines()[0][:160]}",
                                 "check the model directory's tokenizer files (tokenizer.json, tokenizer_config.json)") from None
    model: Any = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
        if merge:
            model = model.merge_and_unload()
    model.eval()
    return model, tokenizer


def gguf_repo_id(gguf: Path) -> str | None:
    """The Hugging Face id a GGUF was made from: its ``general.base_model``/``general.source`` URL, else
    ``general.organization`` + the file's stem without the quantization suffix (SmolLM2-135M-Instruct.Q4_1.gguf
    of HuggingFaceTB → HuggingFaceTB/SmolLM2-135M-Instruct); None when the metadata does not say."""
    from gguf import GGUFReader

    fields = GGUFReader(str(gguf)).fields

    def text(key: str) -> str | None:
        field = fields.get(key)
        return bytes(field.parts[field.data[0]]).decode("utf-8") if field is not None and field.data else None

    for key in ("general.base_model.0.repo_url", "general.source.repo_url", "general.source.url"):
        url = text(key) or ""
        if url.startswith("https://huggingface.co/"):
            return "/".join(url.removeprefix("https://huggingface.co/").split("/")[:2])
    organization = text("general.organization")
    return f"{organization}/{gguf.name.split('.')[0]}" if organization else None


def default_system(tokenizer: Any) -> str:
    """The system prompt the model's chat template inserts when a conversation has none ("" when it inserts none)."""
    if not tokenizer.chat_template:
        return ""
    probe, marker = "agentkit-probe", "agentkit-system"
    head = tokenizer.apply_chat_template([{"role": "user", "content": probe}], tokenize=False).split(probe)[0]
    system_head = tokenizer.apply_chat_template([{"role": "system", "content": marker}, {"role": "user", "content": probe}], tokenize=False).split(probe)[0]
    if marker not in system_head:
        return ""
    before, after = system_head.split(marker, 1)
    if head.startswith(before) and head.endswith(after) and len(head) > len(before) + len(after):
        return head[len(before):len(head) - len(after)]
    return ""
