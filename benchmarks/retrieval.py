"""Retrieval side by side: agentkit's KnowledgeBase vs LangChain (RecursiveCharacterTextSplitter +
HuggingFaceEmbeddings + langchain-chroma), both with the offline all-MiniLM-L6-v2 on the CPU and the same chunks.

Jobs, each side in its own fresh process, sides alternating order, medians of --runs:
1. first ingest (load + split + embed + store; fresh store, fresh embedding cache), CPU and wall time, peak RSS;
2. re-ingest of the unchanged corpus into the same store (agentkit: nothing to embed; LangChain: duplicates);
3. query latency p50/p95 over 100 distinct questions, *including* the query embedding (fresh embedding cache,
   one warm-up query first): dense on both sides, hybrid (dense + BM25, fused) on agentkit's;
4. scaling: ingest and query at 1x, 4x and 16x a base corpus (each copy under its own path, its sentences and
   lines marked with the copy's number, so every chunk is a new text that both sides embed), one run per point.

Checks printed with the tables: chunk texts identical on both sides (digest), and how many of LangChain's
top-5 dense results agentkit also returns (same model: the vectors differ only by float rounding, or by the
int8 weights with ?quantize=int8).

    python benchmarks/retrieval.py [--quick] [--runs 3] [--embedder SPEC] [--plot benchmarks/scaling.png]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h

SIDES = ("agentkit", "langchain")
# The ONNX export (made once, then reused: a one-time cost per model) lives in this persistent cache dir;
# every measured run gets its own fresh embedding cache file.
BENCH_CACHE = h.ROOT / "benchmarks" / "out" / "cache"


def corpus(quick: bool) -> list[Path]:
    return [h.DATA / f"{n}.md" for n in (["chatlogs", "state_of_the_union", "wikitexts"] if quick else h.CORPORA)]


def scale_base(quick: bool) -> list[Path]:
    return [h.DATA / f"{n}.md" for n in (["chatlogs"] if quick else ["chatlogs", "state_of_the_union"])]


def questions(n: int = 100) -> list[str]:
    with open(h.DATA / "questions_df.csv", encoding="utf-8") as f:
        return [row["question"] for row in csv.DictReader(f)][:n]


def digest(texts: list[str]) -> str:
    return hashlib.sha256("\x00".join(sorted(texts)).encode()).hexdigest()[:16]


# ---- the two sides, as run inside a child process -----------------------------------------------------

def agentkit_kb(store: Path, embedder_spec: str, cache_file: Path | None) -> Any:
    from agentkit.chunking import make_splitter
    from agentkit.embeddings import CachedEmbedder, load_embedder
    from agentkit.retrievers import KnowledgeBase

    inner = load_embedder(embedder_spec, cache=False)
    embedder = CachedEmbedder(inner, cache_file) if cache_file else inner
    return KnowledgeBase(store, embedder=embedder, splitter=make_splitter("recursive", chunk_size=800, chunk_overlap=100, separators=h.SEPARATORS))


def langchain_parts() -> tuple[Any, Any]:
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from agentkit.embeddings import minilm_path

    splitter = RecursiveCharacterTextSplitter(chunk_size=800, chunk_overlap=100, separators=h.SEPARATORS, keep_separator="start")
    embed = HuggingFaceEmbeddings(model_name=str(minilm_path()), model_kwargs={"device": "cpu"}, encode_kwargs={"normalize_embeddings": True})
    return splitter, embed


def langchain_store(store: Path, embed: Any) -> Any:
    import chromadb
    from chromadb.config import Settings
    from langchain_chroma import Chroma

    client = chromadb.PersistentClient(path=str(store), settings=Settings(anonymized_telemetry=False))
    return Chroma(client=client, collection_name="bench", embedding_function=embed, collection_metadata={"hnsw:space": "cosine"})


def child_ingest(side: str, files: list[Path], store: Path, embedder_spec: str, cache_file: Path | None) -> dict[str, Any]:
    """Load the libraries and the model (untimed: one warm-up embedding), then time the ingestion."""
    if side == "agentkit":
        kb = agentkit_kb(store, embedder_spec, cache_file)
        kb.embedder.embed(["warm up"])
        with h.Clock() as c:
            report = kb.ingest(files)
        texts = [x.text for x in kb.chunks()]
        return {"wall_s": c.wall, "cpu_s": c.cpu, "chunks": report.chunks_total, "embedded": report.embedded, "stored": kb.count(), "digest": digest(texts)}
    from langchain_core.documents import Document

    splitter, embed = langchain_parts()
    embed.embed_query("warm up")
    with h.Clock() as c:
        docs = [Document(page_content=f.read_text(encoding="utf-8"), metadata={"source": str(f)}) for f in files]
        splits = splitter.split_documents(docs)
        store_ = langchain_store(store, embed)
        store_.add_documents(splits)
    stored = store_._collection.count()
    return {"wall_s": c.wall, "cpu_s": c.cpu, "chunks": len(splits), "embedded": len(splits), "stored": stored, "digest": digest([d.page_content for d in splits])}


def child_query(side: str, store: Path, embedder_spec: str, cache_file: Path, out: Path) -> dict[str, Any]:
    qs = questions()
    result: dict[str, Any] = {}
    if side == "agentkit":
        # one fresh embedding cache per mode: the second mode must not find the first one's query vectors
        kbs = {mode: agentkit_kb(store, embedder_spec, cache_file.with_name(f"{cache_file.stem}-{mode}.sqlite")) for mode in ("dense", "hybrid")}
        modes = {mode: (lambda q, kb=kb, mode=mode: kb.retrieve(q, 5, mode=mode)) for mode, kb in kbs.items()}
        def texts(found: list[Any]) -> list[str]:
            return [c.text for c in found]
    else:
        _, embed = langchain_parts()
        vs = langchain_store(store, embed)
        modes = {"dense": lambda q: vs.similarity_search(q, k=5)}
        def texts(found: list[Any]) -> list[str]:
            return [d.page_content for d in found]
    top: dict[str, list[str]] = {}
    for mode, fn in modes.items():
        fn("a warm-up question that is not among the measured ones")
        wall, cpu = [], []
        for q in qs:
            with h.Clock() as c:
                found = fn(q)
            wall.append(1000 * c.wall)
            cpu.append(1000 * c.cpu)
            if mode == "dense":
                top[q] = texts(found)
        result |= {f"{mode}_p50_ms": h.percentile(wall, 50), f"{mode}_p95_ms": h.percentile(wall, 95), f"{mode}_cpu_p50_ms": h.percentile(cpu, 50)}
    out.write_text(json.dumps(top), encoding="utf-8")
    return result


def child(args: list[str]) -> None:
    job, side, work, embedder_spec, *files = args
    store = Path(work)
    os.environ["AGENTKIT_CACHE_DIR"] = str(BENCH_CACHE)
    cache_file = store.parent / f"{store.name}-{job}-embeddings.sqlite"
    if job == "prepare":  # load (and on first use export) the model
        with h.Clock() as c:
            agentkit_kb(store, embedder_spec, None).embedder.embed(["warm up"])
        result = {"wall_s": c.wall}
    elif job == "ingest":
        result = child_ingest(side, [Path(f) for f in files], store, embedder_spec, cache_file)
    elif job == "reingest":
        result = child_ingest(side, [Path(f) for f in files], store, embedder_spec, store.parent / f"{store.name}-ingest-embeddings.sqlite")
    elif job == "scale":
        result = child_ingest(side, [Path(f) for f in files], store, embedder_spec, cache_file)
        result |= child_query(side, store, embedder_spec, cache_file, store.parent / f"{store.name}-top.json")
    else:
        result = child_query(side, store, embedder_spec, cache_file, store.parent / f"{store.name}-top.json")
    h.emit(result)


# ---- the parent: schedule, check, print ----------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three small corpora (207 KB), scaling base chatlogs (40 KB)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--embedder", default="sentence-transformers://default", help="agentkit's embedder spec")
    parser.add_argument("--no-scaling", action="store_true")
    parser.add_argument("--plot", default="", help="write the scaling curves to this PNG")
    parser.add_argument("--child", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.child:
        return child(args.child)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    work = Path(tempfile.mkdtemp(prefix="agentkit-bench-retrieval-"))
    files = corpus(args.quick)
    mb = sum(f.stat().st_size for f in files) / 1e6
    log(h.machine())
    spec = {"agentkit": args.embedder, "langchain": ""}
    # One-time: export the ONNX model into the benchmark cache (timed here, outside the runs).
    started = time.perf_counter()
    prepared = h.run_child(Path(__file__), ["prepare", "agentkit", str(work / "prepare"), args.embedder])
    log(f"one-time model preparation (ONNX export unless cached): {prepared['wall_s']:.1f} s, process {time.perf_counter() - started:.1f} s")

    def job(name: str, side: str, run: int) -> dict[str, Any]:
        return h.run_child(Path(__file__), [name, side, str(work / f"{side}-{run}"), spec[side], *map(str, files)])

    log("first ingest")
    ingest = h.interleaved({s: (lambda r, s=s: job("ingest", s, r)) for s in SIDES}, args.runs, log)
    log("re-ingest (agentkit every run; LangChain once: it embeds everything again)")
    # LangChain's re-ingest duplicates every chunk: it runs on a copy, so the query runs below see one copy.
    shutil.copytree(work / "langchain-0", work / "langchain-again")
    again = h.run_child(Path(__file__), ["reingest", "langchain", str(work / "langchain-again"), "", *map(str, files)])
    reingest = {"agentkit": [job("reingest", "agentkit", r) for r in range(args.runs)], "langchain": [again]}
    log("queries")
    query = h.interleaved({s: (lambda r, s=s: job("query", s, r)) for s in SIDES}, args.runs, log)

    same_chunks = ingest["agentkit"][0]["digest"] == ingest["langchain"][0]["digest"]
    ours_top = json.loads((work / "agentkit-0-top.json").read_text())
    theirs_top = json.loads((work / "langchain-0-top.json").read_text())
    agree = sum(len(set(ours_top[q]) & set(theirs_top[q])) for q in theirs_top) / sum(len(v) for v in theirs_top.values())

    a, l = ingest["agentkit"], ingest["langchain"]
    ra, rl = reingest["agentkit"], reingest["langchain"]
    qa, ql = query["agentkit"], query["langchain"]
    rows = [
        ["first ingest, wall", f"{h.med(a, 'wall_s'):.1f} s ({a[0]['chunks']} chunks)", f"{h.med(l, 'wall_s'):.1f} s ({l[0]['chunks']} chunks)", f"x{h.med(l, 'wall_s') / h.med(a, 'wall_s'):.2f}"],
        ["first ingest, CPU", f"{h.med(a, 'cpu_s'):.1f} s", f"{h.med(l, 'cpu_s'):.1f} s", f"x{h.med(l, 'cpu_s') / h.med(a, 'cpu_s'):.2f}"],
        ["first ingest, peak RSS (whole process)", f"{h.med(a, 'rss_mb'):.0f} MB", f"{h.med(l, 'rss_mb'):.0f} MB", f"x{h.med(l, 'rss_mb') / h.med(a, 'rss_mb'):.2f} less"],
        ["re-ingest unchanged, wall", f"{h.med(ra, 'wall_s'):.2f} s, {ra[0]['stored']} stored", f"{h.med(rl, 'wall_s'):.1f} s, {rl[0]['stored']} stored", f"x{h.med(rl, 'wall_s') / h.med(ra, 'wall_s'):.0f}"],
        ["dense query incl. embedding, p50 wall", f"{h.med(qa, 'dense_p50_ms'):.1f} ms", f"{h.med(ql, 'dense_p50_ms'):.1f} ms", f"x{h.med(ql, 'dense_p50_ms') / h.med(qa, 'dense_p50_ms'):.2f}"],
        ["dense query incl. embedding, p50 CPU", f"{h.med(qa, 'dense_cpu_p50_ms'):.1f} ms", f"{h.med(ql, 'dense_cpu_p50_ms'):.1f} ms", f"x{h.med(ql, 'dense_cpu_p50_ms') / h.med(qa, 'dense_cpu_p50_ms'):.2f}"],
        ["dense query, p95 wall", f"{h.med(qa, 'dense_p95_ms'):.1f} ms", f"{h.med(ql, 'dense_p95_ms'):.1f} ms", f"x{h.med(ql, 'dense_p95_ms') / h.med(qa, 'dense_p95_ms'):.2f}"],
        ["hybrid query (agentkit) vs LangChain dense, p50 wall", f"{h.med(qa, 'hybrid_p50_ms'):.1f} ms", f"{h.med(ql, 'dense_p50_ms'):.1f} ms", f"x{h.med(ql, 'dense_p50_ms') / h.med(qa, 'hybrid_p50_ms'):.2f}"],
    ]
    print(f"\n{h.machine()}\n{h.versions('chromadb', 'langchain-chroma', 'langchain-huggingface', 'sentence-transformers', 'torch', 'onnxruntime')}")
    print(f"corpora: {', '.join(f.stem for f in files)} ({mb:.2f} MB); recursive 800/100, separators {h.SEPARATORS!r}")
    print(f"agentkit embedder: {args.embedder}; LangChain: HuggingFaceEmbeddings (torch, batch 32) on the same model folder")
    print(f"medians of {args.runs} fresh processes per side, order alternating (LangChain re-ingest: 1 run)\n")
    print(h.table(["job", "agentkit", "LangChain + langchain-chroma", "agentkit"], rows))
    print(f"\nchunk texts identical on both sides: {'yes' if same_chunks else 'NO'}; "
          f"LangChain's top-5 dense results also in agentkit's top 5: {100 * agree:.1f} %")

    if not args.no_scaling:
        scaling(args, work, spec, log)
    shutil.rmtree(work, ignore_errors=True)


def scaling(args: argparse.Namespace, work: Path, spec: dict[str, str], log: Any) -> None:
    base = scale_base(args.quick)
    rows, points = [], {s: [] for s in SIDES}
    for factor in (1, 4, 16):
        copies = []
        for k in range(factor):
            folder = work / "scale-src" / f"x{factor}" / f"copy{k:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            for f in base:
                # Each copy marks its sentences and lines with its number, so its chunks are new texts: an
                # embedding cache (or a batch's de-duplication) cannot skip them, and LangChain gets the same files.
                text = f.read_text(encoding="utf-8").replace(". ", f". ({k}) ").replace("\n", f"\n({k}) ")
                (folder / f.name).write_text(text, encoding="utf-8")
                copies.append(folder / f.name)
        log(f"scaling x{factor}")
        res = {}
        for s in (SIDES if factor % 2 else SIDES[::-1]):
            res[s] = h.run_child(Path(__file__), ["scale", s, str(work / f"scale-{s}-x{factor}"), spec[s], *map(str, copies)])
            points[s].append((factor, res[s]))
        rows.append([f"x{factor}", res["agentkit"]["chunks"], f"{res['agentkit']['wall_s']:.1f}", f"{res['langchain']['wall_s']:.1f}",
                     f"{res['agentkit']['dense_p50_ms']:.1f}", f"{res['agentkit']['hybrid_p50_ms']:.1f}", f"{res['langchain']['dense_p50_ms']:.1f}",
                     f"{res['agentkit']['rss_mb']:.0f}", f"{res['langchain']['rss_mb']:.0f}"])
    kb = sum(f.stat().st_size for f in base) / 1e3
    print(f"\nscaling: base {', '.join(f.stem for f in base)} ({kb:.0f} KB) repeated under distinct paths, each copy's sentences and lines marked with its number; one run per point")
    print(h.table(["size", "chunks", "ingest s agentkit", "ingest s LangChain", "dense p50 ms agentkit", "hybrid p50 ms agentkit", "dense p50 ms LangChain",
                   "peak RSS MB agentkit", "peak RSS MB LangChain"], rows))
    if args.plot:
        plot(points, Path(args.plot), kb)


def plot(points: dict[str, list[tuple[int, dict[str, Any]]]], path: Path, kb: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for side, style in (("agentkit", "o-"), ("langchain", "s--")):
        xs = [r["chunks"] for _, r in points[side]]
        axes[0].plot(xs, [r["wall_s"] for _, r in points[side]], style, label=side)
        axes[1].plot(xs, [r["dense_p50_ms"] for _, r in points[side]], style, label=f"{side} dense")
        if side == "agentkit":
            axes[1].plot(xs, [r["hybrid_p50_ms"] for _, r in points[side]], "o:", label="agentkit hybrid")
    axes[0].set(title="first ingest (wall)", xlabel="chunks", ylabel="seconds")
    axes[1].set(title="query p50 incl. embedding (wall)", xlabel="chunks", ylabel="ms")
    xs = [r["chunks"] for _, r in points["agentkit"]]
    axes[1].set_ylim(bottom=0)  # latencies from zero, so the gap reads at its true size
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xticks(xs, [str(x) for x in xs])  # the measured sizes only (log minor labels overlapped)
        ax.minorticks_off()
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(f"1x, 4x, 16x a {kb:.0f} KB base corpus")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    print(f"\nplot: {path}")


if __name__ == "__main__":
    main()
