"""Ready-to-run configs for training elsewhere on the same data: MLX-LM LoRA (a Mac), Unsloth (a GPU box),
LLaMA-Factory. Formats follow ../shared/reference/finetune-formats.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentkit.errors import ConfigError
from agentkit.finetune.train import LoraSettings

RECIPES = ("mlx", "unsloth", "llamafactory")


def _yaml(data: dict[str, Any]) -> str:
    lines = []
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"{key}:")
            lines += [f"  {k}: {json.dumps(v)}" for k, v in value.items()]
        else:
            lines.append(f"{key}: {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def export_recipe(kind: str, data_dir: str | Path, model: str, out: str | Path, s: LoraSettings | None = None) -> list[Path]:
    """Write the recipe for ``kind`` into ``out``; ``data_dir`` is a distill output folder (mlx/, alpaca/ ...)."""
    s = s or LoraSettings()
    data_dir, out = Path(data_dir).resolve(), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    steps = s.max_steps if s.max_steps > 0 else 1000
    if kind == "mlx":
        if not (data_dir / "mlx" / "train.jsonl").exists():
            raise ConfigError(f"no mlx/train.jsonl in {data_dir}", "distill with --formats mlx first")
        path = out / "mlx_lora.yaml"
        path.write_text(_yaml({
            "model": model, "train": True, "data": str(data_dir / "mlx"), "fine_tune_type": "lora", "seed": s.seed,
            "iters": steps, "batch_size": s.batch_size, "learning_rate": s.lr, "max_seq_length": s.max_seq_len,
            "mask_prompt": True, "adapter_path": str(out / "mlx_adapters"), "save_every": s.val_every, "steps_per_eval": s.val_every,
            "lora_parameters": {"rank": s.r, "scale": s.alpha / s.r, "dropout": s.dropout, "keys": [f"self_attn.{m}" for m in s.target_modules]},
        }), encoding="utf-8")
        return [path]
    if kind == "llamafactory":
        if not (data_dir / "dataset_info.json").exists():
            raise ConfigError(f"no dataset_info.json in {data_dir}", "distill with --formats alpaca (or sharegpt/messages) first")
        path = out / "llamafactory_lora.yaml"
        path.write_text(_yaml({
            "model_name_or_path": model, "stage": "sft", "do_train": True, "finetuning_type": "lora",
            "lora_rank": s.r, "lora_alpha": s.alpha, "lora_dropout": s.dropout, "lora_target": ",".join(s.target_modules),
            "dataset_dir": str(data_dir), "dataset": "agentkit_alpaca_train", "eval_dataset": "agentkit_alpaca_valid", "template": "default",
            "cutoff_len": s.max_seq_len, "per_device_train_batch_size": s.batch_size, "gradient_accumulation_steps": s.grad_accum,
            "learning_rate": s.lr, "num_train_epochs": s.epochs, "max_steps": s.max_steps, "seed": s.seed, "output_dir": str(out / "llamafactory_out"),
            "logging_steps": 1, "save_steps": s.val_every, "eval_strategy": "steps", "eval_steps": s.val_every,
        }), encoding="utf-8")
        return [path, data_dir / "dataset_info.json"]
    if kind == "unsloth":
        path = out / "unsloth_train.py"
        path.write_text(f'''"""Unsloth LoRA SFT on agentkit data (run on a CUDA machine with unsloth installed)."""
from datasets import load_dataset
from trl import SFTConfig, SFTTrainer
from unsloth import FastLanguageModel

model, tokenizer = FastLanguageModel.from_pretrained({model!r}, max_seq_length={s.max_seq_len}, load_in_4bit={s.method == "qlora"})
model = FastLanguageModel.get_peft_model(model, r={s.r}, lora_alpha={s.alpha}, lora_dropout={s.dropout}, target_modules={list(s.target_modules)!r}, random_state={s.seed})
data = load_dataset("json", data_files={{"train": {str(data_dir / "messages" / "train.jsonl")!r}, "validation": {str(data_dir / "messages" / "valid.jsonl")!r}}})
trainer = SFTTrainer(model=model, processing_class=tokenizer, train_dataset=data["train"], eval_dataset=data["validation"],
                     args=SFTConfig(per_device_train_batch_size={s.batch_size}, gradient_accumulation_steps={s.grad_accum}, learning_rate={s.lr},
                                    max_steps={s.max_steps}, num_train_epochs={s.epochs}, seed={s.seed}, output_dir={str(out / "unsloth_out")!r},
                                    assistant_only_loss=True, max_length={s.max_seq_len}))
trainer.train()
model.save_pretrained({str(out / "unsloth_adapter")!r})
''', encoding="utf-8")
        return [path]
    raise ConfigError(f"unknown recipe '{kind}'", f"use one of: {', '.join(RECIPES)}")
