"""Close the loop offline: documents → distilled QA data (embedded SmolLM2 as the teacher) → LoRA fine-tune of
SmolLM2 on CPU → model-eval of base vs tuned on the held-out split, printed as a before/after table with 95 %
bootstrap intervals and the paired change → the tuned model merged and exported to GGUF, answering through
``llama-cpp://PATH`` in a pipeline (and an Ollama Modelfile).

The held-out split is built from other chunks than the training split: splits are grouped by document (by chunk
when there are too few documents), and the script checks that no test question was written from a chunk that
also seeded a training question.

    .venv/bin/python examples/distill_then_finetune.py [--out .agentkit/loop] [--max-steps 60] [--gguf q8_0]

Every stage is resumable: distillation keeps a checkpoint (a re-run makes no teacher call), training resumes
from its last checkpoint. A 135M teacher makes weak data; swap --teacher for a capable model to get real gains.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(HERE.parent / ".agentkit" / "loop"))
    parser.add_argument("--teacher", default="llama-cpp://default")
    parser.add_argument("--max-steps", type=int, default=60)
    parser.add_argument("--questions-per-chunk", type=int, default=3)
    parser.add_argument("--gguf", default="q8_0", choices=["q8_0", "q4_k_m", "f16"])
    parser.add_argument("--docs", nargs="+", default=[str(HERE / "docs"), str(HERE.parent / "benchmarks" / "hw01" / "pages")])
    args = parser.parse_args()

    from agentkit.chunking import make_splitter
    from agentkit.distill import DistillConfig, DistillJob
    from agentkit.finetune.data import load_sft
    from agentkit.finetune.evaluate import bar_chart, bootstrap, evaluate_models, format_interval
    from agentkit.finetune.gguf import export_gguf
    from agentkit.finetune.train import LoraSettings, finetune, merge
    from agentkit.pipeline.builtin import naive
    from agentkit.retrievers import KnowledgeBase

    out = Path(args.out)
    timings = {}
    t = time.perf_counter()
    kb = KnowledgeBase(out / "kb", splitter=make_splitter("sentence", chunk_size=300))
    kb.ingest(args.docs)
    config = DistillConfig(formats=("messages", "mlx", "alpaca"), questions_per_chunk=args.questions_per_chunk, split=(0.7, 0.15, 0.15), grounded_threshold=0.3)
    stats = DistillJob(kb, out / "data", args.teacher, config).run().stats
    timings["distill"] = time.perf_counter() - t
    print(f"distilled: {stats['kept']} kept of {stats['generated']} generated from {stats['seed_chunks']} chunks; splits {stats['splits']} (by {stats['split_grouped_by']})")

    t = time.perf_counter()
    result = finetune(out / "data", "default", out / "tuned", LoraSettings(max_steps=args.max_steps, lr=5e-4, batch_size=4, val_every=10, early_stop=3))
    timings["finetune"] = time.perf_counter() - t
    print(f"fine-tuned {result.steps} steps: train loss {result.train_loss_first:.3f} → {result.train_loss_last:.3f}, best validation loss {result.val_loss_best}")

    t = time.perf_counter()
    held_out = "test" if stats["splits"]["test"] else "valid"
    test = load_sft(out / "data").test or load_sft(out / "data").valid
    shared = _shared_seed_chunks(out / "data" / "provenance.jsonl", held_out)
    if shared:
        raise SystemExit(f"{len(shared)} seed chunks feed both train and {held_out}: the held-out set would not be held out")
    print(f"held-out set: {len(test)} records from the {held_out} split, written from chunks no training record came from")
    reports = evaluate_models(["hf://default", f"hf://default?adapter={result.adapter_dir}"], test, max_tokens=96, resamples=1000, seed=0)
    change = bootstrap(reports, resamples=1000, seed=0)[0]
    timings["model-eval"] = time.perf_counter() - t
    bar_chart(reports, out / "before_after.png")

    keys = [*reports[0].metrics, "latency_s", "tokens_per_s"]
    print(f"\nbefore/after on {len(test)} held-out records; [low, high] = 95 % bootstrap interval (1000 resamples, paired for the change)\n")
    print("| metric | base | tuned | change (tuned − base) |")
    print("|---|---|---|---|")
    for key in keys:
        before, after = reports[0].values()[key], reports[1].values()[key]
        c = change[key]
        mark = " (interval excludes 0)" if c.significant else ""
        print(f"| {key} | {format_interval(before, reports[0].intervals.get(key))} | {format_interval(after, reports[1].intervals.get(key))} "
              f"| {format_interval(c.delta, (c.low, c.high), signed=True)}{mark} |")

    t = time.perf_counter()
    exported = export_gguf(merge("default", result.adapter_dir, out / "merged"), out / "gguf", args.gguf)
    answer = naive(exported.spec).run(test[0].question).answer
    timings["gguf"] = time.perf_counter() - t
    print(f"\nthe tuned model as GGUF ({exported.quant}) in a pipeline: --llm '{exported.spec}'")
    print(f"  Q: {test[0].question}\n  A: {answer.strip()}\n  Ollama: ollama create tuned -f {exported.modelfile}")
    print("\n" + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()) + f"; chart: {out / 'before_after.png'}")


def _shared_seed_chunks(provenance: Path, held_out: str) -> set[str]:
    """Seed chunks that produced records in both the train split and the held-out split."""
    import json

    rows = [json.loads(line) for line in provenance.read_text(encoding="utf-8").splitlines() if line.strip()]
    train = {r["chunk_id"] for r in rows if r["split"] == "train"}
    return train & {r["chunk_id"] for r in rows if r["split"] == held_out}


if __name__ == "__main__":
    main()
