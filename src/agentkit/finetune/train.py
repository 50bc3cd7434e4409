"""LoRA fine-tuning with TRL's SFTTrainer and PEFT, on CPU for tiny models and on CUDA when present.

The loss falls on assistant tokens only (prompt–completion data); validation loss is tracked every
``val_every`` steps, the best checkpoint is kept, training stops early after ``early_stop`` evaluations without
improvement, and an interrupted run resumes from its last checkpoint.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agentkit.errors import ConfigError
from agentkit.finetune.base import resolve_base
from agentkit.finetune.data import load_sft


@dataclass
class LoraSettings:
    method: str = "lora"
    r: int = 16
    alpha: int = 16
    dropout: float = 0.05
    target_modules: Sequence[str] = ("q_proj", "k_proj", "v_proj", "o_proj")
    epochs: float = 1.0
    max_steps: int = -1
    lr: float = 2e-4
    batch_size: int = 4
    grad_accum: int = 1
    max_seq_len: int = 512
    seed: int = 0
    val_every: int = 10
    early_stop: int = 0
    #: TRL turns it on by default to save memory; for the small models agentkit trains on CPU memory is not the limit,
    #: and recomputing every layer's activations in the backward pass costs about a third more time
    gradient_checkpointing: bool = False


@dataclass
class FinetuneResult:
    adapter_dir: str
    base_dir: str
    train_loss_first: float
    train_loss_last: float
    val_loss_best: float | None
    steps: int
    seconds: float
    curve_png: str
    losses: list[tuple[int, float]] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("losses")
        return data


def finetune(data: str | Path, base: str | Path | None, out: str | Path, settings: LoraSettings | None = None, progress: Callable[[int, int], None] | None = None) -> FinetuneResult:
    import torch

    settings = settings or LoraSettings()
    if settings.method not in ("lora", "qlora"):
        raise ConfigError(f"unknown method '{settings.method}'", "use lora or qlora")
    if settings.method == "qlora" and not torch.cuda.is_available():
        raise ConfigError("QLoRA needs a CUDA GPU (bitsandbytes 4-bit); none is available here", "use --method lora on this machine")
    if settings.r < 1 or settings.batch_size < 1 or settings.lr <= 0:
        raise ConfigError("r, batch size and learning rate must be positive", "e.g. --r 16 --batch-size 4 --lr 2e-4")
    out = Path(out)
    sft = load_sft(data)
    base_dir = resolve_base(base)
    started = time.perf_counter()
    trainer = _trainer(sft, base_dir, out, settings, progress)
    checkpoints = sorted((out / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1])) if (out / "checkpoints").exists() else []
    try:
        trainer.train(resume_from_checkpoint=str(checkpoints[-1]) if checkpoints else None)
    except torch.OutOfMemoryError:
        raise ConfigError("out of memory while training", "lower --batch-size or --max-seq-len (or use --grad-accum to keep the effective batch)") from None
    except RuntimeError as exc:
        if "out of memory" in str(exc).lower():
            raise ConfigError("out of memory while training", "lower --batch-size or --max-seq-len") from None
        raise
    adapter_dir = out / "adapter"
    trainer.model.save_pretrained(str(adapter_dir))  # the best checkpoint when validation ran (load_best_model_at_end)
    history = trainer.state.log_history
    losses = [(int(h["step"]), float(h["loss"])) for h in history if "loss" in h]
    evals = [(int(h["step"]), float(h["eval_loss"])) for h in history if "eval_loss" in h]
    curve = _plot(losses, evals, out / "loss_curve.png")
    result = FinetuneResult(
        str(adapter_dir), str(base_dir), losses[0][1] if losses else float("nan"), losses[-1][1] if losses else float("nan"),
        min(v for _, v in evals) if evals else None, int(trainer.state.global_step), time.perf_counter() - started, str(curve), losses,
    )
    (out / "finetune.json").write_text(json.dumps({**result.to_dict(), "settings": {**asdict(settings), "target_modules": list(settings.target_modules)}}, indent=2) + "\n", encoding="utf-8")
    return result


def _trainer(sft: Any, base_dir: Path, out: Path, s: LoraSettings, progress: Callable[[int, int], None] | None) -> Any:
    import datasets
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, EarlyStoppingCallback, TrainerCallback
    from trl import SFTConfig, SFTTrainer  # type: ignore[attr-defined]  # trl exports lazily

    datasets.disable_progress_bars()
    tokenizer = AutoTokenizer.from_pretrained(str(base_dir))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    has_valid = bool(sft.valid)
    config = SFTConfig(
        output_dir=str(out / "checkpoints"), num_train_epochs=s.epochs, max_steps=s.max_steps, learning_rate=s.lr,
        per_device_train_batch_size=s.batch_size, per_device_eval_batch_size=s.batch_size, gradient_accumulation_steps=s.grad_accum,
        max_length=s.max_seq_len, seed=s.seed, logging_steps=1, report_to=[], save_strategy="steps", save_steps=s.val_every,
        save_total_limit=2, eval_strategy="steps" if has_valid else "no", eval_steps=s.val_every if has_valid else None,
        load_best_model_at_end=has_valid, metric_for_best_model="eval_loss" if has_valid else None, greater_is_better=False if has_valid else None,
        use_cpu=not torch.cuda.is_available(), bf16=False, fp16=False, disable_tqdm=True, completion_only_loss=True,
        dataloader_num_workers=0, log_level="error", gradient_checkpointing=s.gradient_checkpointing,
    )
    peft_config = LoraConfig(r=s.r, lora_alpha=s.alpha, lora_dropout=s.dropout, target_modules=list(s.target_modules), task_type="CAUSAL_LM")
    callbacks: list[Any] = []
    if has_valid and s.early_stop > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=s.early_stop))
    if progress:

        class Progress(TrainerCallback):
            def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                if progress is not None:
                    progress(state.global_step, state.max_steps)

        callbacks.append(Progress())
    trainer = SFTTrainer(
        model=model, args=config, train_dataset=Dataset.from_list(sft.conversational("train")),
        eval_dataset=Dataset.from_list(sft.conversational("valid")) if has_valid else None,
        processing_class=tokenizer, peft_config=peft_config, callbacks=callbacks,
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # progress comes through our callback; no log dicts on stdout
    return trainer


def _plot(losses: list[tuple[int, float]], evals: list[tuple[int, float]], target: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    if losses:
        ax.plot(*zip(*losses), label="train loss")
    if evals:
        ax.plot(*zip(*evals), marker="o", label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(target, dpi=100)
    plt.close(fig)
    return target


def merge(base: str | Path | None, adapter: str | Path, out: str | Path) -> Path:
    """Base + adapter merged into a standalone Hugging Face model directory."""
    from agentkit.finetune.base import load_model

    model, tokenizer = load_model(resolve_base(base), adapter, merge=True)
    out = Path(out)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    # Ollama imports safetensors directories of Llama-family models directly (`ollama create NAME -f Modelfile`);
    # agentkit.finetune.gguf writes a GGUF (and its own Modelfile) from this directory.
    (out / "Modelfile").write_text(f"FROM {out.resolve()}\nPARAMETER temperature 0.2\n", encoding="utf-8")
    return out
