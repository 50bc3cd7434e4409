"""GGUF export: a fine-tuned, merged SmolLM2 → GGUF through llama.cpp's own converter and quantizer, loaded by the
embedded llama-cpp backend; greedy answers agree with the merged Hugging Face model; Ollama Modelfile; clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentkit.errors import ConfigError, ModelNotFoundError
from agentkit.finetune.gguf import check_architecture, export_gguf
from tests.conftest import run_cli

FACTS = [
    ("What colour is the sky on Planet Zorg?", "The sky on Planet Zorg is bright green."),
    ("Who rules Planet Zorg?", "Planet Zorg is ruled by Queen Blorpa."),
    ("誰統治佐格星？", "佐格星由布洛帕女王統治。"),
    ("How many moons does Zorg have?", "Zorg has seven moons."),
    ("What do people on Zorg eat?", "People on Zorg eat purple moss."),
    ("佐格星的天空是什麼顏色？", "佐格星的天空是亮綠色的。"),
    ("What is the capital of Zorg?", "The capital of Zorg is Glimmerton."),
    ("佐格星有幾個衛星？", "佐格星有七個衛星。"),
    ("What sport is played on Zorg?", "On Zorg people play moonball."),
    ("佐格星的首都是哪裡？", "佐格星的首都是閃光城。"),
]


def test_unsupported_architecture_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["BertForMaskedLM"]}), encoding="utf-8")
    with pytest.raises(ConfigError, match="does not support the BertForMaskedLM architecture") as info:
        check_architecture(tmp_path)
    assert "LlamaForCausalLM" in info.value.hint
    proc = run_cli("export-gguf", str(tmp_path), "--quant", "q8_0")
    assert proc.returncode == 2 and "BertForMaskedLM" in proc.stderr and "Traceback" not in proc.stderr
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ModelNotFoundError, match="config.json"):
        export_gguf(tmp_path / "adapter", tmp_path / "out")
    with pytest.raises(ConfigError, match="unknown GGUF quantization 'q3'"):
        export_gguf(tmp_path, tmp_path / "out", "q3")


def test_missing_converter_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}), encoding="utf-8")
    monkeypatch.setenv("AGENTKIT_GGUF_CONVERTER", str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="converter is not installed") as info:
        export_gguf(tmp_path, tmp_path / "out")
    assert "make gguf-converter" in info.value.hint and not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def merged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from agentkit.finetune.train import LoraSettings, finetune, merge

    root = tmp_path_factory.mktemp("gguf")
    rows = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]} for q, a in FACTS]
    (root / "data").mkdir()
    (root / "data" / "train.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows * 3), encoding="utf-8")
    # Enough steps for the facts to be learned (train loss ~1.6 → ~0.05): a model that answers its own questions.
    result = finetune(root / "data", "default", root / "tuned", LoraSettings(max_steps=30, lr=2e-3, batch_size=4, r=16, alpha=32, val_every=1000))
    return merge("default", result.adapter_dir, root / "merged")


def _answers(spec: str) -> list[str]:
    from agentkit.llm import GenerationParams, load_llm

    llm = load_llm(spec)
    params = GenerationParams(max_tokens=32, temperature=0.0, repeat_penalty=1.0)
    return [llm.generate(q, params).text.strip() for q, _ in FACTS]


def _same(a: str, b: str) -> bool:
    # A cut at max_tokens can fall inside a multi-byte character, which each backend decodes its own way.
    a, b = a.rstrip("\ufffd"), b.rstrip("\ufffd")
    return a == b or (abs(len(a) - len(b)) <= 1 and (a.startswith(b) or b.startswith(a)))


@pytest.mark.slow
def test_gguf_answers_agree_with_the_merged_model_and_serve_a_pipeline(merged: Path, tmp_path: Path) -> None:
    """The tuned model's greedy answers to its 10 questions (English and Chinese), from the merged Hugging Face
    model and from its f16 and q8_0 GGUF, agree on at least 9 of 10."""
    from agentkit.finetune.gguf import quantize
    from agentkit.pipeline.builtin import naive

    hf = _answers(f"hf://{merged}")
    f16 = export_gguf(merged, tmp_path / "f16", "f16")
    q8 = export_gguf(merged, tmp_path / "q8", "q8_0")
    for exported in (f16, q8):
        gguf = _answers(exported.spec)
        assert sum(_same(a, b) for a, b in zip(hf, gguf)) >= 9, (exported.quant, list(zip(hf, gguf)))
    assert q8.gguf.stat().st_size < 0.6 * f16.gguf.stat().st_size
    q4 = quantize(f16.gguf, tmp_path / "q4.gguf", "q4_k_m")
    assert q4.stat().st_size < q8.gguf.stat().st_size
    for spec in (q8.spec, f"llama-cpp://{q4}"):  # the tuned GGUF answering in a pipeline
        assert naive(spec).run("Who rules Planet Zorg?").answer.strip()


@pytest.mark.slow
def test_modelfile_points_at_the_gguf_with_template_system_and_stops(merged: Path, tmp_path: Path) -> None:
    exported = export_gguf(merged, tmp_path, "q8_0", name="zorg")
    text = exported.modelfile.read_text(encoding="utf-8")
    assert text.startswith("FROM ./zorg-q8_0.gguf\n") and (exported.modelfile.parent / "zorg-q8_0.gguf").exists()
    assert "<|im_start|>{{ .Role }}" in text and 'SYSTEM """You are a helpful AI assistant named SmolLM, trained by Hugging Face"""' in text
    assert 'PARAMETER stop "<|im_end|>"' in text and 'PARAMETER stop "<|im_start|>"' in text
    assert not list(tmp_path.glob("tmp*"))  # no half-written leftovers


@pytest.mark.slow
def test_cli_export_gguf_json(merged: Path, tmp_path: Path) -> None:
    proc = run_cli("export-gguf", str(merged), "--quant", "q8_0", "--out", str(tmp_path / "g"), "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    assert data["spec"] == f"llama-cpp://{(tmp_path / 'g' / 'model-q8_0.gguf').resolve()}" and Path(data["modelfile"]).exists()


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["llama", "mistral"])
def test_each_supported_architecture_converts_with_the_same_logits(arch: str, tmp_path: Path) -> None:
    import numpy as np
    import torch
    from llama_cpp import Llama
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, MistralConfig

    from agentkit.finetune.base import resolve_base

    tokenizer = AutoTokenizer.from_pretrained(str(resolve_base("default")))
    sizes = dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 max_position_embeddings=256, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True)
    config = LlamaConfig(**sizes) if arch == "llama" else MistralConfig(**sizes, sliding_window=None)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(tmp_path / "hf")
    tokenizer.save_pretrained(tmp_path / "hf")
    exported = export_gguf(tmp_path / "hf", tmp_path / "gguf", "f16")
    ids = tokenizer("Planet Zorg is ruled by Queen Blorpa. 佐格星有七個衛星。")["input_ids"]
    with torch.no_grad():
        expected = model(torch.tensor([ids])).logits[0].numpy()
    llm = Llama(model_path=str(exported.gguf), n_ctx=64, logits_all=True, verbose=False)
    llm.eval(ids)
    got = np.array(llm.scores[: len(ids)])
    assert (expected.argmax(-1) == got.argmax(-1)).all() and np.abs(expected - got).max() < 0.01
