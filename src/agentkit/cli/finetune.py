"""`finetune` and `model-eval`: LoRA training and side-by-side scoring."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from agentkit.cli._common import (
    DEFAULT_MAX_TOKENS,
    JSON_HELP,
    _csv_list,
    _needs,
    _number_check,
    _print_json,
    _progress,
    app,
    at_least_one,
    fraction_below_one,
    non_negative,
    out,
    output_dir,
    output_file,
    positive,
    user_errors,
)

#: --max-steps: -1 (off) or a positive step count
_steps = _number_check("-1 (off) or 1 or more", lambda v: v == -1 or v >= 1, "100")


@app.command()
@user_errors
def finetune(
    data: Path = typer.Argument(..., help="A distill output folder, a folder with train/valid.jsonl, or a .jsonl file."),
    base: str = typer.Option("default", "--base", help="'default' (embedded SmolLM2 GGUF, dequantized), a .gguf file, or a HF model directory."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Output folder: the adapter, checkpoints, the loss curve (or the recipe with --export-config)."),
    method: str = typer.Option("lora", "--method", help="lora | qlora (CUDA only)."),
    r: int = typer.Option(16, "--r", callback=at_least_one, help="LoRA rank."),
    alpha: int = typer.Option(16, "--alpha", callback=at_least_one, help="LoRA alpha (the update is scaled by alpha/r)."),
    dropout: float = typer.Option(0.05, "--dropout", callback=fraction_below_one, help="LoRA dropout."),
    target_modules: str = typer.Option("q_proj,k_proj,v_proj,o_proj", "--target-modules", help="Modules that get LoRA adapters, comma-separated."),
    epochs: float = typer.Option(1.0, "--epochs", callback=positive, help="Passes over the training split."),
    max_steps: int = typer.Option(-1, "--max-steps", callback=_steps, help="Overrides --epochs when > 0 (-1: off)."),
    lr: float = typer.Option(2e-4, "--lr", callback=positive, help="Learning rate."),
    batch_size: int = typer.Option(4, "--batch-size", callback=at_least_one, help="Records per device step."),
    grad_accum: int = typer.Option(1, "--grad-accum", callback=at_least_one, help="Steps whose gradients add up to one update."),
    max_seq_len: int = typer.Option(512, "--max-seq-len", callback=at_least_one, help="Longest record, in tokens (longer ones are cut)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the initialization and the data order."),
    val_every: int = typer.Option(10, "--val-every", callback=at_least_one, help="Steps between validation-loss evaluations."),
    early_stop: int = typer.Option(0, "--early-stop", callback=non_negative, help="Stop after N evaluations without improvement (0: off)."),
    merge_to: Path = typer.Option(None, "--merge", help="Also write base+adapter merged into this directory."),
    export_config: str = typer.Option(None, "--export-config", help="mlx | unsloth | llamafactory: write a recipe instead of training here."),
    gguf: str = typer.Option(None, "--gguf", help="Also write the merged model as GGUF: q8_0 | q4_k_m | f16 (into OUT/gguf, with an Ollama Modelfile)."),
    as_json: bool = typer.Option(False, "--json", "-j", help=JSON_HELP),
) -> None:
    """LoRA fine-tune a model on distilled data (TRL + PEFT); or write a recipe for MLX-LM, Unsloth, LLaMA-Factory.

    The data, the base model and every option are checked before anything loads or is written."""
    _needs("finetune", "agentkit finetune")
    from agentkit.errors import ConfigError
    from agentkit.finetune.base import check_base
    from agentkit.finetune.train import LoraSettings

    if method not in ("lora", "qlora"):
        raise ConfigError(f"unknown method '{method}'", "use lora or qlora")
    settings = LoraSettings(method, r, alpha, dropout, _csv_list(target_modules, flag="--target-modules", example="q_proj,v_proj"), epochs, max_steps, lr,
                            batch_size, grad_accum, max_seq_len, seed, val_every, early_stop)
    output_dir(out_dir)
    if merge_to:
        output_dir(merge_to, "--merge")
    if export_config:
        from agentkit.finetune.recipes import check_recipe, export_recipe

        check_recipe(export_config, data)
        check_base(base)
        written = export_recipe(export_config, data, base, out_dir, settings)
        if as_json:
            _print_json({"recipe": export_config, "files": [str(p) for p in written]})
            return
        for path in written:
            out.print(f"wrote {path}", highlight=False)
        return
    from agentkit.finetune.data import load_sft

    load_sft(data)  # a missing file or a bad line is reported now, not after the model has loaded
    check_base(base)
    if gguf:
        from agentkit.finetune.gguf import QUANTS, check_converter

        if gguf not in QUANTS:  # before training, not after
            raise ConfigError(f"unknown GGUF quantization '{gguf}'", f"use one of: {', '.join(QUANTS)}")
        check_converter()
    from agentkit.finetune.train import finetune as run_finetune
    from agentkit.finetune.train import merge

    bar, update = _progress("training")
    with bar:
        result = run_finetune(data, base, out_dir, settings, update)
    merged = str(merge(base, result.adapter_dir, merge_to or out_dir / "merged")) if merge_to or gguf else None
    exported = None
    if gguf and merged:
        from agentkit.finetune.gguf import export_gguf

        exported = export_gguf(merged, out_dir / "gguf", gguf)
    if as_json:
        _print_json({**result.to_dict(), "merged_dir": merged, "gguf": str(exported.gguf) if exported else None})
        return
    out.print(f"adapter: {result.adapter_dir}  ({result.steps} steps, {result.seconds:.0f}s)", highlight=False)
    out.print(f"train loss {result.train_loss_first:.3f} → {result.train_loss_last:.3f}; best validation loss {result.val_loss_best}", highlight=False)
    out.print(f"use it: --llm 'hf://{base}?adapter={result.adapter_dir}'" + (f"; merged model: {merged}" if merged else ""), highlight=False)
    if exported:
        out.print(f"GGUF: {exported.gguf} (--llm '{exported.spec}'; Ollama: ollama create NAME -f {exported.modelfile})", highlight=False)


@app.command("export-gguf")
@user_errors
def export_gguf_command(
    model_dir: Path = typer.Argument(..., help="A merged Hugging Face model directory (or the base, with --adapter)."),
    quant: str = typer.Option("q8_0", "--quant", help="q8_0 | q4_k_m | f16."),
    out_dir: Path = typer.Option(None, "--out", "-o", help="Output folder (default: MODEL_DIR/gguf)."),
    adapter: Path = typer.Option(None, "--adapter", help="A LoRA adapter to merge into MODEL_DIR first ('default' allowed as MODEL_DIR then)."),
    as_json: bool = typer.Option(False, "--json", "-j", help=JSON_HELP),
) -> None:
    """Merged model → GGUF → quantized GGUF, checked to load in llama.cpp, with an Ollama Modelfile."""
    from agentkit.errors import ConfigError
    from agentkit.finetune.gguf import QUANTS, export_gguf

    if quant not in QUANTS:
        raise ConfigError(f"unknown GGUF quantization '{quant}'", f"use one of: {', '.join(QUANTS)}")
    target = output_dir(out_dir or (Path(str(model_dir)) / "gguf" if not adapter else Path(str(adapter)) / "gguf"))
    if adapter:
        from agentkit.finetune.base import check_adapter, check_base

        check_base(str(model_dir))
        check_adapter(adapter)
    source = Path(str(model_dir))
    if adapter:
        from agentkit.finetune.train import merge

        source = merge(str(model_dir), adapter, target / "merged")
    exported = export_gguf(source, target, quant)
    if as_json:
        _print_json({"gguf": str(exported.gguf), "quant": exported.quant, "modelfile": str(exported.modelfile), "spec": exported.spec})
        return
    out.print(f"GGUF: {exported.gguf}\nuse it: --llm '{exported.spec}'; Ollama: ollama create NAME -f {exported.modelfile}", highlight=False)


@app.command("model-eval")
@user_errors
def model_eval(
    model: list[str] = typer.Option(..., "--model", "-m", help="LLM spec; repeat it (the first is the baseline)."),
    data: Path = typer.Option(..., "--data", help="Held-out split (e.g. OUT/messages/test.jsonl) or a distill folder (uses test.jsonl)."),
    judge_llm: str = typer.Option(None, "--judge-llm", help="Also score completeness, key-fact accuracy, consistency, readability (1-10)."),
    limit: int = typer.Option(None, "--limit", "-n", callback=at_least_one, help="Only the first N held-out records."),
    max_tokens: int = typer.Option(DEFAULT_MAX_TOKENS, "--max-tokens", callback=at_least_one, help="Longest answer per record, in tokens."),
    chart: Path = typer.Option(None, "--chart", help="Bar chart PNG (error bars: 95% bootstrap intervals)."),
    resamples: int = typer.Option(1000, "--resamples", callback=at_least_one, help="Bootstrap resamples of the records for the 95% intervals."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap resampling."),
    as_json: bool = typer.Option(False, "--json", "-j", help=JSON_HELP),
) -> None:
    """Score models side by side on a held-out split, with 95% bootstrap intervals and the paired change from the first."""
    from rich.table import Table

    from agentkit.finetune.data import load_sft
    from agentkit.finetune.evaluate import bar_chart, bootstrap, changes, evaluate_models, format_interval
    from agentkit.llm import load_llm

    for spec in [*model, *([judge_llm] if judge_llm else [])]:
        load_llm(spec)  # cheap: a bad spec or model file fails before the data is read or any model loads
    if chart:
        output_file(chart, "--chart")
    sft = load_sft(data)
    records = (sft.test if data.is_dir() else sft.train)[:limit]
    if not records:
        from agentkit.errors import InputError

        raise InputError(f"no held-out records in {data}", "pass a test.jsonl (distill writes one per format)")
    if resamples < 1:
        from agentkit.errors import ConfigError

        raise ConfigError(f"--resamples {resamples} must be >= 1", "use --resamples 1000")
    bar, update = _progress("evaluating")
    with bar:
        reports = evaluate_models(model, records, judge_llm, max_tokens, update, resamples, seed)
    deltas = changes(reports) if len(reports) > 1 else []
    paired = bootstrap(reports, resamples, seed)
    if chart:
        bar_chart(reports, chart)
    if as_json:
        _print_json({"records": len(records), "bootstrap": {"resamples": resamples, "seed": seed, "confidence": 0.95},
                     "models": [r.to_dict() for r in reports], "change_pct_vs_first": deltas,
                     "change_vs_first": [{k: c.to_dict() for k, c in row.items()} for row in paired]})
        return
    keys = list(reports[0].metrics) + ["latency_s", "tokens_per_s"]
    table = Table(title=f"{len(records)} held-out records; \\[low, high]: 95% bootstrap interval ({resamples} resamples); Δ: paired change from the first")
    table.add_column("model")
    for k in keys:
        table.add_column(k, justify="right")
    for i, rep in enumerate(reports):
        values = rep.values()
        cells = [format_interval(values[k], rep.intervals.get(k)) for k in keys]
        if i:
            cells = [f"{cell}\nΔ {format_interval(paired[i - 1][k].delta, (paired[i - 1][k].low, paired[i - 1][k].high), signed=True)}"
                     + ("*" if paired[i - 1][k].significant else "") for cell, k in zip(cells, keys)]
        table.add_row(rep.model[-48:], *cells)
    (out if out.is_terminal else Console(width=220)).print(table)
    if len(reports) > 1:
        out.print("* the interval of the change excludes 0", highlight=False)
