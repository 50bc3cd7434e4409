"""Ready-to-run configs for training elsewhere on the same data: MLX-LM LoRA (a Mac), Unsloth (a CUDA box),
LLaMA-Factory. Formats follow ../shared/reference/finetune-formats.md; ``conformance/`` runs each through its tool.

Every recipe names the real base model (a Hugging Face id or an absolute local directory, never ``default``),
the model's own chat template, a step count derived from the data size (``epochs × train records / batch``
unless ``max_steps`` is set), and LoRA on every transformer block.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentkit.errors import ConfigError
from agentkit.finetune.train import LoraSettings

RECIPES = ("mlx", "unsloth", "llamafactory")
#: LLaMA-Factory exports in order of preference, with the names ``export`` declares them under
_LF_FORMATS = ("alpaca", "sharegpt", "messages")


@dataclass(frozen=True)
class BaseModel:
    """What a recipe names (``name``) and, when there is one, a local Hugging Face directory to inspect."""

    name: str
    local_dir: Path | None


def base_model(spec: str | Path | None) -> BaseModel:
    """``default`` / a ``.gguf`` → the Hugging Face id in the GGUF's metadata (the dequantized copy is inspected);
    a local model directory → its absolute path; anything else (a hub id) → as given."""
    from agentkit.finetune.base import gguf_repo_id, resolve_base
    from agentkit.llm.llama_cpp import embedded_model_path

    if spec in (None, "", "default", "llama-cpp://default"):
        gguf = embedded_model_path()
    elif Path(str(spec)).expanduser().suffix == ".gguf" and Path(str(spec)).expanduser().is_file():
        gguf = Path(str(spec)).expanduser()
    else:
        path = Path(str(spec)).expanduser()
        if path.is_dir():
            return BaseModel(str(resolve_base(path).resolve()), path.resolve())
        return BaseModel(str(spec), None)
    local = resolve_base(gguf)
    return BaseModel(gguf_repo_id(gguf) or str(local.resolve()), local)


def llamafactory_template(local_dir: Path | None) -> str | None:
    """LLaMA-Factory's template for the model's chat template, or None (LLaMA-Factory then parses the tokenizer's
    own template). Matched on the markers each family's Jinja template contains."""
    if local_dir is None or not (local_dir / "tokenizer_config.json").exists():
        return None
    config = json.loads((local_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    template = config.get("chat_template") or ""
    if not template and (local_dir / "chat_template.jinja").exists():
        template = (local_dir / "chat_template.jinja").read_text(encoding="utf-8")
    for markers, name in _LF_TEMPLATES:
        if all(m in template for m in markers):
            return name
    return None


# Most specific first. SmolLM2's template injects its default system prompt, which LLaMA-Factory's smollm2 has too.
_LF_TEMPLATES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("<|im_start|>", "SmolLM"), "smollm2"),
    (("<|im_start|>", "Qwen"), "qwen"),
    (("<|im_start|>",), "chatml"),
    (("<|start_header_id|>", "<|eot_id|>"), "llama3"),
    (("<start_of_turn>",), "gemma"),
)


def _default_system(local_dir: Path | None) -> str:
    from transformers import AutoTokenizer

    from agentkit.finetune.base import default_system

    return default_system(AutoTokenizer.from_pretrained(str(local_dir))) if local_dir else ""


def _count(path: Path) -> int:
    return sum(1 for line in path.open(encoding="utf-8") if line.strip()) if path.exists() else 0


def _steps(s: LoraSettings, n_train: int, batch: int) -> int:
    return s.max_steps if s.max_steps > 0 else max(1, math.ceil(s.epochs * n_train / (batch * s.grad_accum)))


def _yaml(data: dict[str, Any]) -> str:
    lines = []
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"{key}:")
            lines += [f"  {k}: {json.dumps(v, ensure_ascii=False)}" for k, v in value.items()]
        else:
            lines.append(f"{key}: {json.dumps(value, ensure_ascii=False)}")
    return "\n".join(lines) + "\n"


def _mlx(data_dir: Path, base: BaseModel, out: Path, s: LoraSettings) -> list[Path]:
    folder = data_dir / "mlx"
    n_train, n_valid = _count(folder / "train.jsonl"), _count(folder / "valid.jsonl")
    if not n_train:
        raise ConfigError(f"no mlx/train.jsonl in {data_dir}", "distill with --formats mlx first")
    # mlx-lm refuses a split smaller than the batch (trainer.iterate_batches), validation included.
    batch = min(s.batch_size, n_train, n_valid or n_train)
    modules = {"q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn", "o_proj": "self_attn", "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp"}
    path = out / "mlx_lora.yaml"
    path.write_text(_yaml({
        "model": base.name, "train": True, "data": str(folder), "fine_tune_type": "lora", "seed": s.seed,
        "num_layers": -1, "iters": _steps(s, n_train, batch), "batch_size": batch, "grad_accumulation_steps": s.grad_accum,
        "learning_rate": s.lr, "max_seq_length": s.max_seq_len, "mask_prompt": True, "adapter_path": str(out / "mlx_adapters"),
        "save_every": s.val_every, "steps_per_eval": s.val_every, "val_batches": -1,
        "lora_parameters": {"rank": s.r, "scale": s.alpha / s.r, "dropout": s.dropout, "keys": [f"{modules.get(m, 'self_attn')}.{m}" for m in s.target_modules]},
    }), encoding="utf-8")
    return [path]


def _llamafactory(data_dir: Path, base: BaseModel, out: Path, s: LoraSettings) -> list[Path]:
    info_path = data_dir / "dataset_info.json"
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
    fmt = next((f for f in _LF_FORMATS if f"agentkit_{f}_train" in info), None)
    if fmt is None:
        raise ConfigError(f"no LLaMA-Factory dataset (train split) declared in {info_path}", "distill with --formats alpaca (or sharegpt/messages) first")
    n_train = _count(data_dir / info[f"agentkit_{fmt}_train"]["file_name"])
    has_valid = f"agentkit_{fmt}_valid" in info
    template = llamafactory_template(base.local_dir)
    recipe: dict[str, Any] = {
        "model_name_or_path": base.name, "stage": "sft", "do_train": True, "finetuning_type": "lora",
        "lora_rank": s.r, "lora_alpha": s.alpha, "lora_dropout": s.dropout, "lora_target": ",".join(s.target_modules),
        "dataset_dir": str(data_dir), "dataset": f"agentkit_{fmt}_train",
    }
    if has_valid:
        recipe["eval_dataset"] = f"agentkit_{fmt}_valid"
    if template:  # else LLaMA-Factory parses the tokenizer's own chat template
        recipe["template"] = template
        system = _default_system(base.local_dir)
        if system:  # LLaMA-Factory's copy of a template's default system prompt may differ from the model's own
            recipe["default_system"] = system
    recipe |= {
        "cutoff_len": s.max_seq_len, "per_device_train_batch_size": s.batch_size, "gradient_accumulation_steps": s.grad_accum,
        "learning_rate": s.lr, "num_train_epochs": s.epochs, "max_steps": _steps(s, n_train, s.batch_size), "seed": s.seed,
        "output_dir": str(out / "llamafactory_out"), "logging_steps": 1, "save_steps": s.val_every, "report_to": "none",
        "eval_strategy": "steps" if has_valid else "no",
    }
    if has_valid:
        recipe["eval_steps"] = s.val_every
    path = out / "llamafactory_lora.yaml"
    path.write_text(_yaml(recipe), encoding="utf-8")
    return [path, info_path]


UNSLOTH_SCRIPT = '''"""Unsloth LoRA SFT on agentkit data, then a merged model and a q4_k_m GGUF.
Run on a CUDA machine with unsloth installed:  python {script}"""
from datasets import load_dataset
from unsloth import FastLanguageModel  # import before trl/transformers: Unsloth patches them
from trl import SFTConfig, SFTTrainer

DATA = {data!r}
model, tokenizer = FastLanguageModel.from_pretrained(model_name={model!r}, max_seq_length={max_seq_len}, load_in_4bit={load_in_4bit})
model = FastLanguageModel.get_peft_model(model, r={r}, lora_alpha={alpha}, lora_dropout={dropout}, target_modules={targets!r},
                                         use_gradient_checkpointing="unsloth", random_state={seed})


def to_prompt_completion(row):
    # Prompt–completion rows: TRL applies the model's chat template and puts the loss on the completion only.
    # (assistant_only_loss=True would need {{% generation %}} markers that most chat templates, SmolLM2's included, lack.)
    return {{"prompt": row["messages"][:-1], "completion": row["messages"][-1:]}}


files = {files!r}
data = load_dataset("json", data_files=files).map(to_prompt_completion, remove_columns=["messages"])
trainer = SFTTrainer(
    model=model, processing_class=tokenizer, train_dataset=data["train"], eval_dataset=data.get("valid"),
    args=SFTConfig(output_dir={checkpoints!r}, per_device_train_batch_size={batch}, gradient_accumulation_steps={grad_accum},
                   learning_rate={lr}, max_steps={steps}, seed={seed}, max_length={max_seq_len}, completion_only_loss=True,
                   logging_steps=1, eval_strategy={eval_strategy!r}, eval_steps={val_every}, save_steps={val_every}, report_to="none"),
)
trainer.train()
model.save_pretrained({adapter!r})
tokenizer.save_pretrained({adapter!r})
model.save_pretrained_merged({merged!r}, tokenizer, save_method="merged_16bit")
# Unsloth builds llama.cpp for this step; offline, convert the merged model instead: agentkit export-gguf {merged} --quant q4_k_m
model.save_pretrained_gguf({gguf!r}, tokenizer, quantization_method="q4_k_m")
'''


def _unsloth(data_dir: Path, base: BaseModel, out: Path, s: LoraSettings) -> list[Path]:
    folder = data_dir / "messages"
    n_train = _count(folder / "train.jsonl")
    if not n_train:
        raise ConfigError(f"no messages/train.jsonl in {data_dir}", "distill with --formats messages first")
    files = {name: str(folder / f"{name}.jsonl") for name in ("train", "valid") if (folder / f"{name}.jsonl").exists()}
    path = out / "unsloth_train.py"
    path.write_text(UNSLOTH_SCRIPT.format(
        script=path, data=str(folder), model=base.name, max_seq_len=s.max_seq_len, load_in_4bit=s.method == "qlora", r=s.r, alpha=s.alpha,
        dropout=s.dropout, targets=list(s.target_modules), seed=s.seed, files=files, checkpoints=str(out / "unsloth_out"), batch=s.batch_size,
        grad_accum=s.grad_accum, lr=s.lr, steps=_steps(s, n_train, s.batch_size), eval_strategy="steps" if "valid" in files else "no",
        val_every=s.val_every, adapter=str(out / "unsloth_adapter"), merged=str(out / "unsloth_merged"), gguf=str(out / "unsloth_gguf"),
    ), encoding="utf-8")
    return [path]


#: recipe name → writer(data_dir, base, out, settings) → written files
WRITERS: dict[str, Callable[[Path, BaseModel, Path, LoraSettings], list[Path]]] = {"mlx": _mlx, "unsloth": _unsloth, "llamafactory": _llamafactory}


#: the file of a distill output folder each recipe trains on, and the --formats that writes it
RECIPE_DATA = {"mlx": ("mlx/train.jsonl", "mlx"), "unsloth": ("messages/train.jsonl", "messages"), "llamafactory": ("dataset_info.json", "alpaca")}


def check_recipe(kind: str, data_dir: str | Path) -> None:
    """Refuse an unknown recipe, or data it cannot train on, before anything is resolved or written."""
    if kind not in WRITERS:
        raise ConfigError(f"unknown recipe '{kind}'", f"use one of: {', '.join(RECIPES)}")
    needed, fmt = RECIPE_DATA[kind]
    if not (Path(data_dir) / needed).is_file():
        raise ConfigError(f"the {kind} recipe needs {needed} in a distill output folder; {data_dir} has none", f"distill with --formats {fmt} and pass its --out folder")


def export_recipe(kind: str, data_dir: str | Path, model: str | Path | None, out: str | Path, s: LoraSettings | None = None) -> list[Path]:
    """Write the recipe for ``kind`` into ``out``; ``data_dir`` is a distill output folder (mlx/, alpaca/ ...)."""
    check_recipe(kind, data_dir)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return WRITERS[kind](Path(data_dir).resolve(), base_model(model), out.resolve(), s or LoraSettings())
