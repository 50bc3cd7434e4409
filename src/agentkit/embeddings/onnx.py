"""A sentence-transformers model run by ONNX Runtime: the same vectors as torch (cosine 1.0000 in fp32), about
a third of torch's CPU time for one short query, and int8 weights on request.

The model is exported once from its local folder (never downloaded) into the cache directory:
``CACHE/onnx/KEY/{model.onnx, tokenizer.json, meta.json}``, ``KEY`` hashing the folder's resolved path, its file
fingerprint, the quantization and the export recipe version — so replaced weights or a new recipe export anew.
An export is written to a temporary folder and renamed into place, so concurrent processes never see half of one.

Why not sentence-transformers' own ``backend="onnx"``: it needs optimum, whose releases pin transformers 4.x
(this stack runs 5.x). The export here is torch's own ``torch.onnx.export`` of the sentence-transformers module
chain (transformer, pooling, normalize) — the graph computes exactly what ``SentenceTransformer.encode`` does —
and the tokenizer is the model's own fast tokenizer saved with its truncation (``max_seq_length``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from agentkit.cache_dir import default_cache_dir, files_fingerprint
from agentkit.embeddings.base import Embedder, normalize
from agentkit.errors import BackendUnavailableError, ConfigError, ModelNotFoundError

Quantize = Literal["none", "int8"]
QUANTIZE = ("none", "int8")
# Bump when the export changes what a cached model computes: older exports are then ignored, not reused.
RECIPE = "st-chain-opset17-v1"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True)
class OnnxExport:
    """An exported model: ``folder`` holds ``model.onnx``, ``tokenizer.json`` (truncation set) and ``meta.json``
    (``dimension``, ``max_seq_length``, ``inputs``, ``quantize``, ``source``)."""

    folder: Path
    meta: dict[str, Any]

    @property
    def model(self) -> Path:
        return self.folder / "model.onnx"

    @property
    def tokenizer(self) -> Path:
        return self.folder / "tokenizer.json"


def export_key(model_dir: Path, quantize: Quantize) -> str:
    path = model_dir.resolve()
    return hashlib.sha256(f"{path}\0{files_fingerprint(path)}\0{quantize}\0{RECIPE}".encode()).hexdigest()[:20]


def onnx_export(model_dir: Path, quantize: Quantize = "none", cache_root: Path | None = None) -> OnnxExport:
    """The ONNX export of the sentence-transformers model in ``model_dir``, made on first use (a few seconds:
    torch loads the model once) and reused after. Raises ``BackendUnavailableError`` when the export tools
    (``onnx``, ``onnxruntime``) are missing."""
    folder = (cache_root or default_cache_dir()) / "onnx" / export_key(model_dir, quantize)
    meta_file = folder / "meta.json"
    if meta_file.is_file():
        try:
            return OnnxExport(folder, json.loads(meta_file.read_text(encoding="utf-8")))
        except ValueError:
            shutil.rmtree(folder, ignore_errors=True)  # a damaged export is made again
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        meta = _export(model_dir, tmp, quantize)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        try:
            os.replace(tmp, folder)
        except OSError:  # another process finished first: use theirs
            if not meta_file.is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return OnnxExport(folder, json.loads(meta_file.read_text(encoding="utf-8")))


def _export(model_dir: Path, out: Path, quantize: Quantize) -> dict[str, Any]:
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
        import torch
        from sentence_transformers import SentenceTransformer
    except ModuleNotFoundError as exc:
        raise BackendUnavailableError(f"the ONNX embedder backend needs '{exc.name}' to export the model", "run: pip install onnx onnxruntime, or use ?backend=torch") from None

    model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True).eval()
    features = model.preprocess(["an example sentence", "a second, longer example sentence to trace with"])
    inputs = [name for name in _INPUTS if name in features]

    class Chain(torch.nn.Module):
        """The whole module chain (transformer → pooling → normalize) as one graph."""

        def __init__(self) -> None:
            super().__init__()
            self.st = model

        def forward(self, *tensors: Any) -> Any:
            return self.st(dict(zip(inputs, tensors)))["sentence_embedding"]

    dynamic = {name: {0: "batch", 1: "sequence"} for name in inputs} | {"sentence_embedding": {0: "batch"}}
    raw = out / ("float.onnx" if quantize != "none" else "model.onnx")
    # The tracer warns about branches it freezes (mask checks that hold for every encoder input: the traced
    # batch is padded, so the masked path is the one recorded); the checks in tests compare vectors instead.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Chain(), tuple(features[n] for n in inputs), str(raw), input_names=inputs, output_names=["sentence_embedding"],
                          dynamic_axes=dynamic, opset_version=17, dynamo=False)
    if quantize == "int8":
        _quantize_int8(raw, out / "model.onnx")
        raw.unlink()
    max_length = int(model.max_seq_length or model.tokenizer.model_max_length)
    tokenizer = model.tokenizer.backend_tokenizer
    tokenizer.no_padding()  # batches are padded here, per batch, after sorting by length
    tokenizer.enable_truncation(max_length)
    tokenizer.save(str(out / "tokenizer.json"))
    get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return {"dimension": int(get() or 0), "max_seq_length": max_length, "inputs": inputs, "quantize": quantize,
            "source": str(model_dir.resolve()), "recipe": RECIPE, "pad_id": int(model.tokenizer.pad_token_id or 0)}


def _quantize_int8(src: Path, dst: Path) -> None:
    """Dynamic int8 weights (per channel) for the matrix products, except each feed-forward block's output
    projection: its input comes straight from GELU, whose outliers int8 activations clip. Measured on MiniLM
    over the chunking corpora: with those kept in float, cosine to the float vectors min 0.992, mean 0.997;
    with them quantized, min 0.985."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(src), load_external_data=False).graph
    keep = [n.name for n in graph.node if n.op_type == "MatMul" and "/output/dense/" in n.name and "/attention/" not in n.name]
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"], nodes_to_exclude=keep)


class OnnxEmbedder(Embedder):
    """``sentence-transformers://default?backend=onnx`` (``&quantize=int8`` for int8 weights).

    ``name`` is the model's (a knowledge base built with the torch backend opens with this one: same model,
    same vectors up to float rounding); ``identity`` adds the runtime and quantization, so cached vectors of one
    never answer for the other. ``threads`` caps ONNX Runtime's threads (default: one per core)."""

    def __init__(self, model_path: str | Path | None = None, quantize: Quantize = "none", batch_size: int | None = None, threads: int | None = None, name: str = "") -> None:
        path = Path(model_path) if model_path else None
        if path is not None and not path.is_dir():
            raise ModelNotFoundError(f"sentence-transformers model directory not found: {path}", "give a local model directory, or sentence-transformers://default")
        if quantize not in QUANTIZE:
            raise ConfigError(f"unknown quantization '{quantize}'", f"use one of: {', '.join(QUANTIZE)}")
        self.model_path = path
        self.quantize: Quantize = quantize
        # Measured on 169 corpus chunks (CPU s, int8): batch 4 4.4-4.9, 8 5.1-6.3, 16 5.9, 32 6.3-6.6 (fp32 alike):
        # even sorted by length, small batches win on CPU.
        self.batch_size = batch_size or 4
        self.threads = threads
        self.name = name or ("sentence-transformers/all-MiniLM-L6-v2" if path is None else f"sentence-transformers:{path.name}")
        self._identity: str | None = None
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, OnnxExport] | None = None

    def _folder(self) -> Path:
        if self.model_path is not None:
            return self.model_path
        from agentkit.embeddings.backends import minilm_path

        return minilm_path()

    @property
    def identity(self) -> str:
        if self._identity is None:
            path = self._folder().resolve()
            self._identity = f"sentence-transformers:{path}#{files_fingerprint(path)}|onnx" + ("" if self.quantize == "none" else f"-{self.quantize}")
        return self._identity

    def _load(self) -> tuple[Any, Any, OnnxExport]:
        with self._lock:
            if self._loaded is None:
                import onnxruntime as ort
                from tokenizers import Tokenizer

                export = onnx_export(self._folder(), self.quantize)
                options = ort.SessionOptions()
                options.intra_op_num_threads = self.threads or 0  # 0: ONNX Runtime's default, one per core
                options.inter_op_num_threads = 1
                # Waiting threads that spin steal the CPU from the working one on a busy machine: measured here
                # under load, one query took 13 ms with spinning threads and 5.4 ms without (1 thread: 4.9 ms).
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                session = ort.InferenceSession(str(export.model), options, providers=["CPUExecutionProvider"])
                self._loaded = (Tokenizer.from_file(str(export.tokenizer)), session, export)
        return self._loaded

    def warm_up(self) -> None:
        self._load()

    @property
    def dimension(self) -> int:
        return int(self._load()[2].meta["dimension"])

    def _run(self, encodings: list[Any]) -> np.ndarray:
        _, session, export = self._load()
        width = max(len(e.ids) for e in encodings)
        arrays = {name: np.full((len(encodings), width), export.meta.get("pad_id", 0) if name == "input_ids" else 0, dtype=np.int64) for name in export.meta["inputs"]}
        for row, e in enumerate(encodings):
            n = len(e.ids)
            arrays["input_ids"][row, :n] = e.ids
            arrays["attention_mask"][row, :n] = 1
            if "token_type_ids" in arrays:
                arrays["token_type_ids"][row, :n] = e.type_ids
        vectors: np.ndarray = session.run(None, arrays)[0]
        return vectors

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        return self._run(self._load()[0].encode_batch(texts))

    def embed(self, texts: Any) -> np.ndarray:
        """Vectors in input order. All texts are tokenized at once, then run in batches of similar token
        length (longest first), so a batch pads little."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encodings = self._load()[0].encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for b in range(0, len(order), self.batch_size):
            rows = order[b:b + self.batch_size]
            out[rows] = self._run([encodings[i] for i in rows])
        return normalize(out)
