"""mlx-lm on Linux CPU reads agentkit's mlx/ export and recipe: convert the base, train 2 LoRA iterations from the
recipe, generate with the adapter (run in conformance/.venv/mlx)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("mlx_lm", reason="run in conformance/.venv/mlx (make conformance)")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-3000:])
    return proc


def test_recipe_is_sized_from_the_data(manifest: dict[str, Any]) -> None:
    recipe = yaml.safe_load(Path(manifest["recipes"]["mlx"][0]).read_text(encoding="utf-8"))
    train = manifest["splits"]["train"]
    assert recipe["model"] == manifest["base"] and recipe["num_layers"] == -1 and recipe["mask_prompt"] is True
    assert recipe["iters"] == -(-train // recipe["batch_size"])  # one epoch: ceil(records / batch)
    assert recipe["batch_size"] <= manifest["splits"]["valid"]  # mlx-lm refuses a split smaller than the batch
    assert sorted(p.name for p in Path(recipe["data"]).iterdir()) == ["train.jsonl", "valid.jsonl"]  # no empty test.jsonl


def test_convert_train_two_iterations_and_generate(manifest: dict[str, Any], tmp_path: Path) -> None:
    mlx_model = tmp_path / "mlx_model"
    _run("mlx_lm", "convert", "--hf-path", manifest["base"], "--mlx-path", str(mlx_model))
    recipe_path = Path(manifest["recipes"]["mlx"][0])
    adapters = tmp_path / "adapters"
    # The recipe as written, but 2 iterations and one validation batch: mlx on a shared CPU is slow.
    proc = _run("mlx_lm", "lora", "-c", str(recipe_path), "--model", str(mlx_model), "--iters", "2", "--adapter-path", str(adapters),
                "--steps-per-report", "1", "--save-every", "2", "--val-batches", "1")
    log = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
    assert "Trainable parameters" in log and re.search(r"\b2\s+val\s+\d", log), log[-2000:]  # validation ran on the exported valid.jsonl
    assert (adapters / "0000002_adapters.safetensors").exists() and (adapters / "adapters.safetensors").exists()
    config = yaml.safe_load((adapters / "adapter_config.json").read_text(encoding="utf-8"))
    assert config["num_layers"] == -1 and config["lora_parameters"]["keys"] == ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"]
    out = _run("mlx_lm", "generate", "--model", str(mlx_model), "--adapter-path", str(adapters), "--prompt", "Who rules Planet Zorg?", "--max-tokens", "12")
    assert "Generation:" in out.stdout and out.stdout.split("==========")[1].strip(), out.stdout
