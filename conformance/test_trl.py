"""TRL's SFTTrainer on agentkit's chat and prompt–completion exports, with the loss on the assistant's answer
only, checked by decoding the labels TRL's own collator makes (run in agentkit's own virtualenv)."""

from __future__ import annotations

import ast
import math
from pathlib import Path
from typing import Any

import pytest

from conftest import read_jsonl

trl = pytest.importorskip("trl")


def _trainer(manifest: dict[str, Any], rows: list[dict[str, Any]], tmp_path: Path, **overrides: Any) -> Any:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(manifest["base"])
    model = AutoModelForCausalLM.from_pretrained(manifest["base"], dtype=torch.float32)
    config = SFTConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=2, max_length=256, report_to=[], use_cpu=True,
                       logging_steps=1, save_strategy="no", disable_tqdm=True, dataloader_num_workers=0, **overrides)
    return SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                      peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))


def _trained_text(trainer: Any) -> list[str]:
    texts = []
    for example in trainer.train_dataset:
        labels = trainer.data_collator([example])["labels"][0]
        texts.append(trainer.processing_class.decode(labels[labels != -100]))
    return texts


def _answers(manifest: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    return [row["completion"][-1]["content"] if "completion" in row else row["messages"][-1]["content"] for row in rows]


def test_completion_export_trains_on_the_answer_only(manifest: dict[str, Any], tmp_path: Path) -> None:
    rows = read_jsonl(Path(manifest["data"]) / "completion" / "train.jsonl")
    trainer = _trainer(manifest, rows, tmp_path)
    assert _trained_text(trainer) == [f"{answer}<|im_end|>\n" for answer in _answers(manifest, rows)]
    assert math.isfinite(trainer.train().training_loss)


def test_messages_export_through_the_unsloth_recipes_mapping_trains_on_the_answer_only(manifest: dict[str, Any], tmp_path: Path) -> None:
    # The recipe's own to_prompt_completion, run as written.
    script = Path(manifest["recipes"]["unsloth"][0]).read_text(encoding="utf-8")
    function = next(node for node in ast.parse(script).body if isinstance(node, ast.FunctionDef) and node.name == "to_prompt_completion")
    namespace: dict[str, Any] = {}
    exec(compile(ast.Module([function], []), "unsloth_train.py", "exec"), namespace)
    rows = [namespace["to_prompt_completion"](row) for row in read_jsonl(Path(manifest["data"]) / "messages" / "train.jsonl")]
    trainer = _trainer(manifest, rows, tmp_path, completion_only_loss=True)
    assert _trained_text(trainer) == [f"{answer}<|im_end|>\n" for answer in _answers(manifest, rows)]


def test_assistant_only_loss_on_raw_messages_is_refused_for_this_template(manifest: dict[str, Any], tmp_path: Path) -> None:
    # Why the recipes use prompt–completion: TRL needs {% generation %} markers, which SmolLM2's template lacks.
    rows = read_jsonl(Path(manifest["data"]) / "messages" / "train.jsonl")
    with pytest.raises(ValueError, match="not training-compatible"):
        _trainer(manifest, rows, tmp_path, assistant_only_loss=True)
