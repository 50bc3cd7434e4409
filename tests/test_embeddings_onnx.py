"""The ONNX Runtime embedder backend: same vectors as torch, exported once and reused, chosen by spec."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from agentkit.embeddings import OnnxEmbedder, SentenceTransformerEmbedder, load_embedder, minilm_path
from agentkit.embeddings import onnx as onnx_backend
from agentkit.errors import ConfigError

TEXTS = [
    "What did the president say about the economy?",
    "玉山是臺灣最高的山，主峰海拔 3,952 公尺。",
    "台湾高速铁路于 2007 年通车。",
    "Emoji 👨‍👩‍👧‍👦 and flags 🇹🇼 in one sentence.",
    "x",
    " ".join(["a long text that the tokenizer must truncate at the model's maximum sequence length"] * 40),
]


def test_spec_picks_the_backend():
    assert isinstance(load_embedder("sentence-transformers://default", cache=False), OnnxEmbedder)
    assert isinstance(load_embedder("sentence-transformers://default?backend=torch", cache=False), SentenceTransformerEmbedder)
    assert isinstance(load_embedder("sentence-transformers://default?device=cuda", cache=False), SentenceTransformerEmbedder)
    int8 = load_embedder("sentence-transformers://default?quantize=int8&batch_size=16&threads=1", cache=False)
    assert isinstance(int8, OnnxEmbedder) and int8.quantize == "int8" and int8.batch_size == 16 and int8.threads == 1
    with pytest.raises(ConfigError, match="ONNX backend only"):
        load_embedder("sentence-transformers://default?backend=torch&quantize=int8")
    with pytest.raises(ConfigError, match="runs on the CPU"):
        load_embedder("sentence-transformers://default?backend=onnx&device=cuda")
    with pytest.raises(ConfigError):
        load_embedder("sentence-transformers://default?quantize=int4")


def test_backends_share_the_name_not_the_identity():
    """A knowledge base built with torch vectors opens with the ONNX backend (the name is the model's), but the
    embedding cache keeps their vectors apart (the identity names the runtime and the quantization)."""
    torch_, fp32, int8 = SentenceTransformerEmbedder(), OnnxEmbedder(), OnnxEmbedder(quantize="int8")
    assert torch_.name == fp32.name == int8.name
    assert len({torch_.identity, fp32.identity, int8.identity}) == 3


@pytest.mark.slow
def test_onnx_vectors_match_torch():
    reference = SentenceTransformerEmbedder().embed(TEXTS)
    fp32 = OnnxEmbedder().embed(TEXTS)
    assert fp32.shape == reference.shape and fp32.dtype == np.float32
    assert np.min(np.sum(fp32 * reference, axis=1)) > 0.9999
    # one at a time (no padding) and in a mixed batch (padding, reordering by length) give the same rows
    single = np.stack([OnnxEmbedder().embed([t])[0] for t in TEXTS])
    assert np.allclose(single, fp32, atol=1e-5)
    int8 = OnnxEmbedder(quantize="int8").embed(TEXTS)
    assert np.min(np.sum(int8 * reference, axis=1)) > 0.98


@pytest.mark.slow
def test_export_is_made_once_and_keyed_by_the_model_files(tmp_path, monkeypatch):
    # A folder of links to the shipped model: exporting it must not touch the package's own folder.
    model = tmp_path / "model"
    shutil.copytree(minilm_path(), model, copy_function=os.symlink)
    first = onnx_backend.onnx_export(model, "none", tmp_path / "cache")
    assert first.model.is_file() and first.tokenizer.is_file() and first.meta["dimension"] == 384
    assert first.meta["max_seq_length"] == 256

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_backend, "_export", no_export)
    assert onnx_backend.onnx_export(model, "none", tmp_path / "cache").folder == first.folder
    # replaced weights (here: a rewritten config) are another model: a new export
    config = model / "config.json"
    text = config.read_text(encoding="utf-8")
    config.unlink()
    config.write_text(text, encoding="utf-8")
    with pytest.raises(AssertionError, match="exported again"):
        onnx_backend.onnx_export(model, "none", tmp_path / "cache")


def test_a_damaged_export_is_made_again(tmp_path, monkeypatch):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}", encoding="utf-8")
    folder = tmp_path / "cache" / "onnx" / onnx_backend.export_key(model, "none")
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text("{not json", encoding="utf-8")
    calls = []

    def fake_export(model_dir: Path, out: Path, quantize: str) -> dict:
        calls.append(out)
        (out / "model.onnx").write_bytes(b"")
        return {"dimension": 3}

    monkeypatch.setattr(onnx_backend, "_export", fake_export)
    export = onnx_backend.onnx_export(model, "none", tmp_path / "cache")
    assert calls and export.folder == folder and export.meta == {"dimension": 3}
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left
