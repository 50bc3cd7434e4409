"""LLaMA-Factory reads every dataset agentkit declares, through its own loader, converter and template, and trains
one LoRA step from agentkit's recipe (run in conformance/.venv/llamafactory)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import read_jsonl

pytest.importorskip("llamafactory", reason="run in conformance/.venv/llamafactory (make conformance)")

IGNORE_INDEX = -100


def _recipe(manifest: dict[str, Any]) -> dict[str, Any]:
    path = next(p for p in manifest["recipes"]["llamafactory"] if p.endswith(".yaml"))
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def _load(manifest: dict[str, Any], dataset: str, tmp_path: Path) -> tuple[Any, Any, Any]:
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    recipe = _recipe(manifest)
    args = {k: recipe[k] for k in ("model_name_or_path", "stage", "finetuning_type", "dataset_dir", "template", "default_system", "cutoff_len") if k in recipe}
    args |= {"do_train": True, "dataset": dataset, "output_dir": str(tmp_path / "out"), "overwrite_cache": True, "report_to": "none"}
    model_args, data_args, training_args, _, _ = get_train_args(args)
    tokenizer_module = load_tokenizer(model_args)
    template = get_template_and_fix_tokenizer(tokenizer_module["tokenizer"], data_args)
    module = get_dataset(template, model_args, data_args, training_args, stage="sft", **tokenizer_module)
    return module["train_dataset"], tokenizer_module["tokenizer"], template


def test_recipe_names_the_base_and_its_template(manifest: dict[str, Any]) -> None:
    recipe = _recipe(manifest)
    assert recipe["model_name_or_path"] == manifest["base"] and recipe["template"] == "smollm2"
    assert recipe["dataset"] == "agentkit_alpaca_train" and recipe["eval_dataset"] == "agentkit_alpaca_valid"


def test_every_declared_dataset_loads_and_trains_on_the_answers(manifest: dict[str, Any], tmp_path: Path) -> None:
    info = json.loads((Path(manifest["data"]) / "dataset_info.json").read_text(encoding="utf-8"))
    assert not any(name.endswith("_test") for name in info)  # the empty test split is not declared
    for name, entry in info.items():
        rows = read_jsonl(Path(manifest["data"]) / entry["file_name"])
        dataset, tokenizer, _ = _load(manifest, name, tmp_path / name)
        assert len(dataset) == len(rows), f"{name}: LLaMA-Factory kept {len(dataset)} of {len(rows)} rows"
        answers = {tokenizer.decode([t for t in example["labels"] if t != IGNORE_INDEX]) for example in dataset}
        expected = {_last_answer(row) + "<|im_end|>\n" for row in rows}
        # multi-turn rows train on every assistant turn; each row's last answer is the label's tail
        assert {next(e for e in expected if a.endswith(e)) for a in answers} == expected, name
        assert not any("<|im_start|>user" in a for a in answers), f"{name}: prompt tokens in the labels"


def _last_answer(row: dict[str, Any]) -> str:
    if "output" in row:
        return row["output"]
    turns = row.get("conversations") or row["messages"]
    return turns[-1].get("value", turns[-1].get("content"))


def test_template_renders_what_the_models_own_chat_template_renders(manifest: dict[str, Any], tmp_path: Path) -> None:
    _, tokenizer, template = _load(manifest, "agentkit_messages_train", tmp_path)
    for system in ("", "Answer briefly."):
        messages = [{"role": "user", "content": "誰統治佐格星？"}, {"role": "assistant", "content": "布洛帕女王。"}]
        prompt_ids, answer_ids = template.encode_oneturn(tokenizer, messages, system or None)
        own = tokenizer.apply_chat_template(([{"role": "system", "content": system}] if system else []) + messages, tokenize=True, return_dict=False)
        assert prompt_ids + answer_ids == list(own), tokenizer.decode(prompt_ids + answer_ids)


def test_one_lora_step_from_the_recipe(manifest: dict[str, Any], tmp_path: Path) -> None:
    from llamafactory.train.tuner import run_exp

    recipe = _recipe(manifest) | {"output_dir": str(tmp_path / "lf"), "max_steps": 1, "save_steps": 1, "eval_steps": 1, "logging_steps": 1,
                                  "per_device_eval_batch_size": 1, "dataloader_num_workers": 0}
    run_exp(recipe)
    assert (tmp_path / "lf" / "adapter_config.json").exists() and (tmp_path / "lf" / "adapter_model.safetensors").exists()
    state = json.loads((tmp_path / "lf" / "trainer_state.json").read_text(encoding="utf-8"))
    assert state["global_step"] == 1 and any("eval_loss" in h for h in state["log_history"])
