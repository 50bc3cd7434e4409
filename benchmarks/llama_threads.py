"""Tokens/s of the embedded SmolLM2-135M per llama.cpp thread setting, optionally with busy processes beside it.

    python benchmarks/llama_threads.py                 # the machine as it is
    python benchmarks/llama_threads.py --busy 1        # plus one spinning process (a busy machine)

One JSON line per setting: (n_threads, n_threads_batch), the load average, the median prompt time of a ~570-token
RAG-sized prompt, and the median and worst generation speed over 64 tokens (end of text suppressed, so every trial
generates all 64). The rule it led to: agentkit.llm.llama_cpp.default_threads (half the usable CPUs); results in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def spin() -> None:
    while True:
        pass


def measure(n_threads: int, n_batch: int, trials: int) -> dict[str, float]:
    from llama_cpp import Llama

    from agentkit.llm.llama_cpp import embedded_model_path

    context = (ROOT / "examples" / "docs" / "solar_system.md").read_text(encoding="utf-8") * 3
    messages = [{"role": "system", "content": "You are a precise assistant who answers questions from the provided context."},
                {"role": "user", "content": f"Context:\n{context}\n\nQuestion: Who discovered the moons of Mars? Answer in three sentences."}]
    model = Llama(model_path=str(embedded_model_path()), n_ctx=4096, n_threads=n_threads, n_threads_batch=n_batch, verbose=False, seed=0)
    rows = []
    for _ in range(trials):
        model.reset()
        started, first, count = time.perf_counter(), 0.0, 0
        for chunk in model.create_chat_completion(messages=messages, temperature=0, max_tokens=64, stream=True, logit_bias={model.token_eos(): -100.0}):
            if chunk["choices"][0]["delta"].get("content"):
                count += 1
                first = first or time.perf_counter()
        rows.append((first - started, (count - 1) / (time.perf_counter() - first)))
    model.close()
    return {"prompt_s_median": round(statistics.median(r[0] for r in rows), 2),
            "gen_tok_s_median": round(statistics.median(r[1] for r in rows), 1), "gen_tok_s_min": round(min(r[1] for r in rows), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--busy", type=int, default=0, help="spinning processes to run beside the model")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--threads", default="1:1,2:2,1:2", help="n_threads:n_threads_batch settings, comma-separated")
    args = parser.parse_args()
    spinners = [multiprocessing.Process(target=spin, daemon=True) for _ in range(args.busy)]
    for p in spinners:
        p.start()
    try:
        for setting in args.threads.split(","):
            n_threads, n_batch = (int(x) for x in setting.split(":"))
            result = measure(n_threads, n_batch, args.trials)
            print(json.dumps({"busy": args.busy, "loadavg1": round(os.getloadavg()[0], 2), "cpus": len(os.sched_getaffinity(0)),
                              "n_threads": n_threads, "n_threads_batch": n_batch, **result}), flush=True)
    finally:
        for p in spinners:
            p.terminate()


if __name__ == "__main__":
    main()
