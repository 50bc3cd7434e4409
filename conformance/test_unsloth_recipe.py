"""Unsloth needs CUDA, so its recipe is checked statically: every keyword it passes must exist in the installed
TRL and PEFT signatures and in Unsloth's own source (``conformance/.venv/unsloth-src``, fetched by
``make conformance``). On a CUDA machine with Unsloth installed, run the script itself."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import os
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
UNSLOTH_SRC = Path(os.environ.get("UNSLOTH_SRC", HERE / ".venv" / "unsloth-src"))


def _calls(script: str) -> dict[str, list[ast.Call]]:
    calls: dict[str, list[ast.Call]] = {}
    for node in ast.walk(ast.parse(script)):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            calls.setdefault(name, []).append(node)
    return calls


def _keywords(call: ast.Call) -> set[str]:
    return {k.arg for k in call.keywords if k.arg}


def _script(manifest: dict[str, Any]) -> str:
    return Path(manifest["recipes"]["unsloth"][0]).read_text(encoding="utf-8")


def test_trl_keywords_exist_in_the_installed_trl(manifest: dict[str, Any]) -> None:
    from trl import SFTConfig, SFTTrainer

    calls = _calls(_script(manifest))
    config = _keywords(calls["SFTConfig"][0])
    assert config <= {f.name for f in dataclasses.fields(SFTConfig)}, config - {f.name for f in dataclasses.fields(SFTConfig)}
    assert "completion_only_loss" in config and "assistant_only_loss" not in config
    assert _keywords(calls["SFTTrainer"][0]) <= set(inspect.signature(SFTTrainer.__init__).parameters)


def test_recipe_names_the_base_and_existing_data(manifest: dict[str, Any]) -> None:
    calls = _calls(_script(manifest))
    load = calls["from_pretrained"][0]
    assert next(ast.literal_eval(k.value) for k in load.keywords if k.arg == "model_name") == manifest["base"]
    files = ast.literal_eval(next(n for n in ast.walk(ast.parse(_script(manifest))) if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "files").value)
    assert set(files) == {"train", "valid"} and all(Path(p).exists() for p in files.values())
    assert "save_pretrained_gguf" in calls and "save_pretrained_merged" in calls


def _signature(source: Path, function: str, owner: str | None = None) -> set[str]:
    tree = ast.parse(source.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and owner and node.name != owner:
            continue
        for fn in (node.body if isinstance(node, ast.ClassDef) else [node]):
            if isinstance(fn, ast.FunctionDef) and fn.name == function:
                args = fn.args
                return {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs} | ({"**"} if args.kwarg else set())
    raise AssertionError(f"{function} not found in {source}")


@pytest.mark.skipif(not (UNSLOTH_SRC / "unsloth").exists(), reason="Unsloth's source is fetched by make conformance")
def test_unsloth_keywords_exist_in_unsloths_source(manifest: dict[str, Any]) -> None:
    calls = _calls(_script(manifest))
    src = UNSLOTH_SRC / "unsloth"
    checks = {
        "from_pretrained": _signature(src / "models" / "loader.py", "from_pretrained", "FastLanguageModel"),
        "get_peft_model": _signature(src / "models" / "llama.py", "get_peft_model", "FastLlamaModel"),
        "save_pretrained_merged": _signature(src / "save.py", "unsloth_save_pretrained_merged"),
        "save_pretrained_gguf": _signature(src / "save.py", "unsloth_save_pretrained_gguf"),
    }
    for name, accepted in checks.items():
        used = _keywords(calls[name][0])
        assert used <= accepted - {"**"}, (name, used - accepted)  # named parameters, not swallowed by **kwargs
    gguf = calls["save_pretrained_gguf"][0]
    assert next(ast.literal_eval(k.value) for k in gguf.keywords if k.arg == "quantization_method") == "q4_k_m"
