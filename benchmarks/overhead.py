"""Framework overhead: the same 20 prompts through ``pipeline`` (naive) and through raw llama-cpp-python.

Both sides send identical messages and sampling settings to the same in-process Llama object, so the
difference is agentkit's own work (prompt building, token-budget fitting, tracing, streaming glue).
Prints medians of several runs and the ratio. Target: overhead under 5 %.

    .venv/bin/python benchmarks/overhead.py [--runs 3] [--max-tokens 32]
"""

from __future__ import annotations

import argparse
import statistics
import time

from agentkit import pipeline
from agentkit.llm import GenerationParams, load_llm
from agentkit.pipeline import Answer

PROMPTS = [
    "What is 20+30?", "Name the largest planet.", "What color is the sky?", "Translate 'cat' to French.",
    "What is the capital of Japan?", "How many legs does a spider have?", "Who wrote Hamlet?", "What is H2O?",
    "Give a synonym for happy.", "What is 7 times 8?", "臺灣最高的山是哪一座？", "What is the boiling point of water?",
    "Name a primary color.", "What does CPU stand for?", "How many days are in a week?", "What is the opposite of hot?",
    "Which ocean is the largest?", "What is 100 divided by 4?", "Name a fruit that is yellow.", "What language is spoken in Brazil?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()

    llm = load_llm("llama-cpp://default")
    params = GenerationParams(max_tokens=args.max_tokens)
    answer = Answer(llm, params=params)
    pipe = pipeline.Pipeline([answer], "naive")
    raw = llm.model  # the same llama_cpp.Llama instance
    messages = {p: [m.to_dict() for m in answer.agent.build_messages(p)[0]] for p in PROMPTS}

    def run_raw() -> float:
        t = time.perf_counter()
        for p in PROMPTS:
            raw.create_chat_completion(messages=messages[p], temperature=params.temperature, top_p=params.top_p,
                                       max_tokens=params.max_tokens, repeat_penalty=params.repeat_penalty, seed=params.seed)
        return time.perf_counter() - t

    def run_pipeline() -> float:
        t = time.perf_counter()
        for p in PROMPTS:
            pipe.run(p)
        return time.perf_counter() - t

    run_raw(), run_pipeline()  # warm-up: load weights, fill caches
    raw_times, pipe_times = [], []
    for _ in range(args.runs):  # interleaved so drift hits both sides alike
        raw_times.append(run_raw())
        pipe_times.append(run_pipeline())
    raw_med, pipe_med = statistics.median(raw_times), statistics.median(pipe_times)
    print(f"{len(PROMPTS)} prompts, max_tokens={args.max_tokens}, medians of {args.runs} runs, model {llm.spec}")
    print(f"| {'path':<28} | {'median s':>9} | {'per prompt ms':>13} |")
    print(f"|{'-' * 30}|{'-' * 11}|{'-' * 15}|")
    print(f"| {'raw llama-cpp-python':<28} | {raw_med:9.3f} | {1000 * raw_med / len(PROMPTS):13.1f} |")
    print(f"| {'agentkit pipeline (naive)':<28} | {pipe_med:9.3f} | {1000 * pipe_med / len(PROMPTS):13.1f} |")
    print(f"overhead: {100 * (pipe_med / raw_med - 1):+.2f} % (target < 5 %)")


if __name__ == "__main__":
    main()
