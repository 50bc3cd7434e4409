"""Distillation throughput with the embedded model: records per minute at concurrency 1, 2, 4, and the share of
time in generation vs filtering vs export. Fresh output (no checkpoint) per run; medians of --runs.

    .venv/bin/python benchmarks/distill.py [--max-chunks 4] [--runs 2] [--concurrency 1,2,4]

The knowledge base is examples/docs, ingested once with the default MiniLM embedder.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-chunks", type=int, default=4)
    parser.add_argument("--questions-per-chunk", type=int, default=2)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--concurrency", default="1,2,4")
    args = parser.parse_args()

    from agentkit.distill import DistillConfig, DistillJob
    from agentkit.llm import load_llm
    from agentkit.retrievers import KnowledgeBase

    work = Path(tempfile.mkdtemp(prefix="agentkit-distill-bench-"))
    kb = KnowledgeBase(work / "kb")
    kb.ingest([ROOT / "examples" / "docs"])
    teacher = load_llm("llama-cpp://default")
    teacher.warm_up()
    rows = []
    for concurrency in [int(c) for c in args.concurrency.split(",")]:
        per_minute, shares, kept = [], [], []
        for run in range(args.runs):
            config = DistillConfig(formats=("alpaca", "sharegpt", "messages", "mlx", "hf"), questions_per_chunk=args.questions_per_chunk,
                                   max_chunks=args.max_chunks, concurrency=concurrency, seed=run)
            started = time.perf_counter()
            report = DistillJob(kb, work / f"out-c{concurrency}-r{run}", teacher, config).run()
            total = time.perf_counter() - started
            per_minute.append(report.stats["generated"] / total * 60)
            kept.append(report.stats["kept"])
            shares.append({k: v / total for k, v in report.seconds.items()})
        share = {k: statistics.median(s[k] for s in shares) for k in shares[0]}
        rows.append((concurrency, statistics.median(per_minute), statistics.median(kept), share))
    print(f"embedded SmolLM2-135M teacher, {args.max_chunks} seed chunks x {args.questions_per_chunk} questions, medians of {args.runs} runs\n")
    print("| concurrency | generated records/min | kept per run | generation | filtering | export |")
    print("|---|---|---|---|---|---|")
    for concurrency, rate, kept_median, share in rows:
        print(f"| {concurrency} | {rate:.1f} | {kept_median:g} | {share['generation']:.0%} | {share['filtering']:.1%} | {share['export']:.1%} |")


if __name__ == "__main__":
    main()
