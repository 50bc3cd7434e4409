"""Retrieval layer vs LangChain, side by side in one run, on ../shared/chunking_eval/*.md.

1. Splitting throughput: agentkit RecursiveSplitter (spans included) vs LangChain's
   RecursiveCharacterTextSplitter, same separators and sizes; MB/s, median of --runs.
2. Ingestion (split + embed + store): agentkit KnowledgeBase vs LangChain splitter + langchain-chroma,
   both with the same offline all-MiniLM-L6-v2 and a fresh embedding cache.
3. Re-ingesting the unchanged corpus (agentkit): ratio to the first ingestion.
4. Query latency p50/p95 for dense, BM25 and hybrid (query embeddings pre-cached, so excluded).

    .venv/bin/python benchmarks/retrieval.py [--corpora small|all] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "chunking_eval"
SEPARATORS = ["\n\n", "\n", ".", "?", "!", " ", ""]
CORPORA = ["chatlogs", "finance", "pubmed", "state_of_the_union", "wikitexts"]
SMALL = ["chatlogs", "state_of_the_union", "wikitexts"]


def median_times(a, b, runs: int) -> tuple[float, float]:
    """Medians of ``runs`` timings of a and b, interleaved so machine noise hits both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for fn, out in ((a, times[0]), (b, times[1])):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
    return statistics.median(times[0]), statistics.median(times[1])


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpora", choices=["small", "all"], default="small", help="corpora for ingestion (splitting and queries always use all)")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--chunk-size", type=int, default=800)
    parser.add_argument("--chunk-overlap", type=int, default=100)
    args = parser.parse_args()

    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from agentkit.chunking import make_splitter

    files = [DATA / f"{name}.md" for name in CORPORA]
    texts = [f.read_text(encoding="utf-8") for f in files]
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    ours = make_splitter("recursive", chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap, separators=SEPARATORS)
    theirs = RecursiveCharacterTextSplitter(chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap, separators=SEPARATORS, keep_separator="start")
    t_ours, t_theirs = median_times(lambda: [ours.split(t) for t in texts], lambda: [theirs.split_text(t) for t in texts], args.runs)
    rows = [("split, agentkit (with spans)", f"{mb / t_ours:.1f} MB/s", ""), ("split, LangChain", f"{mb / t_theirs:.1f} MB/s", f"agentkit x{t_theirs / t_ours:.2f}")]

    # Ingestion: fresh caches and stores on both sides.
    chosen = [f for f in files if args.corpora == "all" or f.stem in SMALL]
    ing_mb = sum(f.stat().st_size for f in chosen) / 1e6
    work = Path(tempfile.mkdtemp(prefix="agentkit-bench-"))
    os.environ["AGENTKIT_CACHE_DIR"] = str(work / "cache")
    from agentkit.embeddings import minilm_path
    from agentkit.retrievers import KnowledgeBase

    kb = KnowledgeBase(work / "kb", splitter=ours)
    kb.embedder.embed(["warm up"])  # first inference pays torch start-up; LangChain gets the same below
    t = time.perf_counter()
    first = kb.ingest(chosen)
    t_ingest = time.perf_counter() - t
    t = time.perf_counter()
    second = KnowledgeBase(work / "kb", splitter=ours).ingest(chosen)
    t_reingest = time.perf_counter() - t
    assert second.chunks_added == 0 and second.embedded == 0

    import chromadb
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings

    def langchain_ingest(batch_size: int, name: str) -> tuple[float, int]:
        embed = HuggingFaceEmbeddings(model_name=str(minilm_path()), model_kwargs={"device": "cpu"}, encode_kwargs={"normalize_embeddings": True, "batch_size": batch_size})
        embed.embed_query("warm up")
        t = time.perf_counter()
        docs = [Document(page_content=f.read_text(encoding="utf-8"), metadata={"source": str(f)}) for f in chosen]
        splits = theirs.split_documents(docs)
        Chroma.from_documents(splits, embed, client=chromadb.PersistentClient(path=str(work / name)), collection_name="bench")
        return time.perf_counter() - t, len(splits)

    # LangChain's default encode batch (32), and the batch agentkit picks on CPU (8), so the table shows
    # how much of the gap is that one setting.
    t_lc, n_lc = langchain_ingest(32, "lc32")
    t_lc8, _ = langchain_ingest(8, "lc8")
    rows += [
        (f"ingest {first.chunks_total} chunks ({ing_mb:.2f} MB), agentkit", f"{t_ingest:.1f} s", f"{first.chunks_total / t_ingest:.1f} chunks/s"),
        (f"ingest {n_lc} chunks, LangChain + langchain-chroma", f"{t_lc:.1f} s", f"agentkit x{t_lc / t_ingest:.2f}"),
        ("  same, LangChain with encode batch_size=8", f"{t_lc8:.1f} s", f"agentkit x{t_lc8 / t_ingest:.2f}"),
        ("re-ingest unchanged, agentkit", f"{t_reingest:.2f} s", f"x{t_ingest / t_reingest:.0f} faster than first"),
    ]

    # Query latency over the knowledge base (all corpora when --corpora all).
    import csv

    questions = [row["question"] for row in csv.DictReader(open(DATA / "questions_df.csv", encoding="utf-8"))][:100]
    kb.embedder.embed(questions)  # cache query vectors: latency below excludes the model
    for mode in ("dense", "bm25", "hybrid"):
        kb.retrieve(questions[0], 5, mode=mode)  # warm: BM25 index build/load
        lat = []
        for q in questions:
            t = time.perf_counter()
            kb.retrieve(q, 5, mode=mode)
            lat.append(1000 * (time.perf_counter() - t))
        rows.append((f"query {mode} (k=5, {len(questions)} questions)", f"p50 {percentile(lat, 50):.1f} ms", f"p95 {percentile(lat, 95):.1f} ms"))

    print(f"corpora: {', '.join(f.stem for f in files)} ({mb:.2f} MB); ingestion on: {', '.join(f.stem for f in chosen)}")
    print(f"chunk_size={args.chunk_size} chars, overlap={args.chunk_overlap}, embedder all-MiniLM-L6-v2 (CPU), median of {args.runs} runs for splitting\n")
    print(f"| {'measure':<52} | {'result':>14} | {'comparison':<28} |")
    print(f"|{'-' * 54}|{'-' * 16}|{'-' * 30}|")
    for name, value, note in rows:
        print(f"| {name:<52} | {value:>14} | {note:<28} |")


if __name__ == "__main__":
    main()
