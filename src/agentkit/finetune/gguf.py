"""GGUF export: a merged Hugging Face model → GGUF (llama.cpp's ``convert_hf_to_gguf.py``) → quantized GGUF
(llama.cpp's quantizer, through llama-cpp-python's ``llama_model_quantize``) → an Ollama ``Modelfile``.

llama.cpp's converter is not part of any wheel: it ships in the llama-cpp-python source distribution.
``install_converter()`` (``make gguf-converter``, part of ``make install``) downloads that sdist with pip at install
time — the same version as the installed bindings, so converter and runtime agree on the format — and extracts the
converter, its ``conversion`` package and its ``gguf-py`` into ``<venv>/share/agentkit/``. Nothing is fetched at
run time; a missing converter is one error line saying how to install it.

Invariants: a GGUF appears under its final name only when complete; the written GGUF loads in the embedded
llama-cpp backend (checked before returning); an unsupported architecture fails before any work.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from agentkit.errors import ConfigError, ModelNotFoundError

#: quantization → llama.cpp ``llama_ftype`` constant name in llama-cpp-python
QUANTS: dict[str, str] = {"f16": "LLAMA_FTYPE_MOSTLY_F16", "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0", "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M"}
#: Hugging Face architectures whose round trip agentkit verifies (tests/test_gguf.py: a fine-tuned SmolLM2, and tiny
#: Llama and Mistral models whose llama.cpp logits match transformers'); llama.cpp's converter knows more.
SUPPORTED_ARCHITECTURES = ("LlamaForCausalLM", "MistralForCausalLM")
#: end-of-turn tokens a chat template may use; those the tokenizer renders become Ollama stop parameters
_END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "</s>")
_PARTS = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/")


@dataclass(frozen=True)
class GGUFExport:
    gguf: Path
    quant: str
    modelfile: Path

    @property
    def spec(self) -> str:
        """The agentkit LLM spec that answers with this GGUF."""
        return f"llama-cpp://{self.gguf.resolve()}"


def converter_dir() -> Path:
    """Where llama.cpp's converter lies: ``$AGENTKIT_GGUF_CONVERTER``, else ``<venv>/share/agentkit/llama.cpp-<version>``."""
    import llama_cpp

    return Path(os.environ.get("AGENTKIT_GGUF_CONVERTER") or Path(sys.prefix) / "share" / "agentkit" / f"llama.cpp-{llama_cpp.__version__}")


def install_converter(target: Path | None = None) -> Path:
    """Download the installed llama-cpp-python's sdist with pip and extract llama.cpp's converter into ``target``."""
    import llama_cpp

    target = target or converter_dir()
    if (target / "convert_hf_to_gguf.py").exists():
        return target
    version = llama_cpp.__version__
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                               f"llama-cpp-python=={version}", "-d", tmp], capture_output=True, text=True)
        archives = list(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        if not archives:
            raise ConfigError(f"could not download the llama-cpp-python {version} source distribution: {(proc.stderr.strip().splitlines() or ['no output'])[-1]}",
                              "check access to the package registry, or set AGENTKIT_GGUF_CONVERTER to a llama.cpp checkout")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent))
        with tarfile.open(archives[0]) as tar:
            prefix = f"{tar.getnames()[0].split('/')[0]}/vendor/llama.cpp/"
            members = [m for m in tar.getmembers() if m.name.startswith(prefix) and m.name[len(prefix):].startswith(_PARTS)]
            for m in members:
                m.name = m.name[len(prefix):]
            tar.extractall(staging, members=members, filter="data")
    staging.rename(target)  # only a complete converter appears under the final name
    return target


def check_converter() -> Path:
    converter = converter_dir()
    if not (converter / "convert_hf_to_gguf.py").exists():
        raise ConfigError(f"llama.cpp's GGUF converter is not installed (looked in {converter})", "run `make gguf-converter` (or python -m agentkit.finetune.gguf install)")
    return converter


def check_architecture(model_dir: Path) -> str:
    config = model_dir / "config.json"
    if not config.exists():
        hint = "merge the adapter first (agentkit export-gguf --adapter ADAPTER --base BASE)" if (model_dir / "adapter_config.json").exists() else "pass a merged Hugging Face model directory (agentkit finetune --merge DIR)"
        raise ModelNotFoundError(f"no Hugging Face model (config.json) in {model_dir}", hint)
    archs = json.loads(config.read_text(encoding="utf-8")).get("architectures") or ["unknown"]
    if archs[0] not in SUPPORTED_ARCHITECTURES:
        raise ConfigError(f"GGUF export does not support the {archs[0]} architecture", f"supported: {', '.join(SUPPORTED_ARCHITECTURES)}")
    return archs[0]


def export_gguf(model_dir: str | Path, out_dir: str | Path, quant: str = "q8_0", name: str = "model") -> GGUFExport:
    """``model_dir`` (a merged HF model) → ``out_dir/<name>-<quant>.gguf`` + ``out_dir/Modelfile``."""
    if quant not in QUANTS:
        raise ConfigError(f"unknown GGUF quantization '{quant}'", f"use one of: {', '.join(QUANTS)}")
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    check_architecture(model_dir)
    converter = check_converter()
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / f"{name}-{quant}.gguf"
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        f16 = Path(tmp) / "f16.gguf"
        _convert(converter, model_dir, f16)
        if quant == "f16":
            f16.replace(final)
        else:
            quantized = Path(tmp) / f"{quant}.gguf"
            quantize(f16, quantized, quant)
            quantized.replace(final)
    _check_loads(final)
    return GGUFExport(final, quant, write_modelfile(model_dir, final))


def _convert(converter: Path, model_dir: Path, target: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(converter / "gguf-py"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("NO_LOCAL_GGUF", None)  # the converter must use its own gguf-py, which matches its own tensor names
    proc = subprocess.run([sys.executable, str(converter / "convert_hf_to_gguf.py"), str(model_dir), "--outfile", str(target), "--outtype", "f16"],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0 or not target.exists():
        last = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or ["no output"])[-1]
        raise ConfigError(f"llama.cpp's converter failed on {model_dir}: {last[:300]}", "check that the directory holds a complete merged model")


def quantize(source: Path, target: Path, quant: str) -> Path:
    """llama.cpp's own quantizer (k-quants fall back per tensor where a row is not a multiple of 256, as llama.cpp does)."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, QUANTS[quant])
    params.nthread = max(1, (os.cpu_count() or 2) // 2)
    log = logging.getLogger("llama-cpp-python")  # llama.cpp logs every tensor it quantizes through this logger
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        status = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params))
    finally:
        log.setLevel(level)
    if status != 0 or not target.exists():
        raise ConfigError(f"llama.cpp could not quantize {source.name} to {quant}", "try --quant q8_0 or f16")
    return target


def _check_loads(gguf: Path) -> None:
    from llama_cpp import Llama

    try:
        model = Llama(model_path=str(gguf), n_ctx=64, n_threads=1, verbose=False)
        model.tokenize(b"ok")
        model.close()
    except Exception as exc:
        gguf.unlink(missing_ok=True)
        raise ConfigError(f"the written GGUF does not load in llama.cpp: {exc}", "report the model's architecture; try --quant f16") from None


def write_modelfile(model_dir: Path, gguf: Path) -> Path:
    """An Ollama Modelfile: FROM the GGUF (relative, so the folder can move), the chat template for ChatML models
    (others keep the template Ollama reads from the GGUF's own ``tokenizer.chat_template``), the model's default
    system prompt when its template injects one, and its end-of-turn tokens as stops."""
    from transformers import AutoTokenizer

    from agentkit.finetune.base import default_system

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    # with tokenize=False the template renders to a str
    rendered = str(tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)) if tokenizer.chat_template else ""
    chatml = "<|im_start|>" in rendered
    lines = [f"FROM ./{gguf.name}"]
    if chatml:
        lines.append('TEMPLATE """' + CHATML_TEMPLATE + '"""')
    system = default_system(tokenizer)
    if system:
        lines.append('SYSTEM """' + system + '"""')
    eos = tokenizer.eos_token or ""
    stops = [t for t in (*_END_OF_TURN, eos) if t and t in rendered + eos] + (["<|im_start|>"] if chatml else [])
    lines += [f'PARAMETER stop "{t}"' for t in dict.fromkeys(stops)]
    path = gguf.parent / "Modelfile"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# Ollama's Go-template form of ChatML (as in its qwen2 and smollm2 library models).
CHATML_TEMPLATE = """{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
"""


def main(argv: list[str] | None = None) -> int:
    """``python -m agentkit.finetune.gguf install``: fetch llama.cpp's converter at install time."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["install"]:
        print("usage: python -m agentkit.finetune.gguf install", file=sys.stderr)
        return 2
    print(install_converter())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
