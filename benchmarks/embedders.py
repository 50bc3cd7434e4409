"""The embedder backends of the offline MiniLM side by side: torch (sentence-transformers), ONNX Runtime fp32,
ONNX Runtime int8. Same chunks (the five corpora, recursive 800/100, plus Chinese text) and the same 100
questions for every backend; each backend embeds in its own fresh process, order alternating, medians.

Prints, per backend: cosine to the torch vectors (min and mean over every chunk and question), CPU and wall
seconds to embed the chunks, and the p50 latency of embedding one question (CPU and wall).

    python benchmarks/embedders.py [--quick] [--runs 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h

BACKENDS = {"torch": "sentence-transformers://default?backend=torch", "onnx": "sentence-transformers://default?backend=onnx",
            "onnx-int8": "sentence-transformers://default?backend=onnx&quantize=int8"}


def texts(quick: bool) -> tuple[list[str], list[str]]:
    from agentkit.chunking import make_splitter

    splitter = make_splitter("recursive", chunk_size=800, chunk_overlap=100, separators=h.SEPARATORS)
    chunks = [c.text for _, t in h.english_texts(quick) for c in splitter.split(t)]
    chunks += [c.text for c in make_splitter("recursive", chunk_size=800, chunk_overlap=100).split(h.chinese_text(20_000))]
    with open(h.DATA / "questions_df.csv", encoding="utf-8") as f:
        questions = [row["question"] for row in csv.DictReader(f)][:100]
    return (chunks[:300] if quick else chunks), questions


def child(backend: str, out: str, quick: bool) -> None:
    import numpy as np

    from agentkit.embeddings import load_embedder

    chunks, questions = texts(quick)
    embedder = load_embedder(BACKENDS[backend], cache=False)
    embedder.embed(["warm up"])  # load the model (and export it on first use: not timed)
    with h.Clock() as c:
        vectors = embedder.embed(chunks)
    wall, cpu = [], []
    for q in questions:
        with h.Clock() as one:
            embedder.embed([q])
        wall.append(one.wall)
        cpu.append(one.cpu)
    np.save(out, np.concatenate([vectors, embedder.embed(questions)]))
    h.emit({"chunks": len(chunks), "embed_wall_s": c.wall, "embed_cpu_s": c.cpu,
            "query_wall_ms": 1000 * h.percentile(wall, 50), "query_cpu_ms": 1000 * h.percentile(cpu, 50)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 chunks of the two smallest corpora")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--child", nargs=3, metavar=("BACKEND", "OUT", "QUICK"))
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], args.child[1], args.child[2] == "1")

    import numpy as np

    work = Path(tempfile.mkdtemp(prefix="agentkit-bench-embed-"))
    names = args.backends.split(",")
    print(h.machine(), file=sys.stderr)
    # Exports land in the normal cache dir (made once, outside the timing); vectors go to files per run.
    sides = {n: (lambda r, n=n: h.run_child(Path(__file__), [n, str(work / f"{n}-{r}.npy"), "1" if args.quick else "0"])) for n in names}
    results = h.interleaved(sides, args.runs, lambda s: print(s, file=sys.stderr, flush=True))
    reference = np.load(work / "torch-0.npy") if "torch" in names else None
    rows = []
    for n in names:
        vectors = np.load(work / f"{n}-0.npy")
        cos = (vectors * reference).sum(axis=1) if reference is not None else None
        rows.append([n, f"{cos.min():.4f}" if cos is not None else "-", f"{cos.mean():.4f}" if cos is not None else "-",
                     f"{h.med(results[n], 'embed_cpu_s'):.1f}", f"{h.med(results[n], 'embed_wall_s'):.1f}",
                     f"{h.med(results[n], 'query_cpu_ms'):.2f}", f"{h.med(results[n], 'query_wall_ms'):.2f}"])
    chunks = results[names[0]][0]["chunks"]
    print(f"\n{h.machine()}\n{h.versions('torch', 'onnxruntime', 'sentence-transformers')}")
    print(f"{chunks} chunks (recursive 800/100{', quick subset' if args.quick else ''}) + 100 questions; medians of {args.runs} fresh processes, order alternating\n")
    print(h.table(["backend", "cos min vs torch", "cos mean", "chunks CPU s", "chunks wall s", "query CPU ms p50", "query wall ms p50"], rows))
    (work / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
