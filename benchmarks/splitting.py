"""Recursive splitting throughput: agentkit's RecursiveSplitter (exact spans, hard maximum, grapheme-safe cuts)
vs LangChain's RecursiveCharacterTextSplitter vs chonkie's RecursiveChunker, on the same text and sizes.

Texts: the five English corpora (1.45 MB) and Traditional Chinese text (see ``_harness.chinese_text``).
Settings: 800 characters with 100 overlap (agentkit and LangChain; chonkie has no overlap) and 800 with no
overlap (all three). Separators: the report's list for English; CJK sentence and clause marks first for
Chinese, given to every side (chonkie gets the same marks as its delimiter levels).

Each side runs in its own fresh process and splits the text ``--reps`` times there (the best rep counts:
splitting is deterministic, so the fastest is the least disturbed); sides alternate order over ``--runs``
processes and the table gives medians. Checks that agentkit's and LangChain's chunk texts are identical.

    python benchmarks/splitting.py [--quick] [--runs 5] [--reps 3]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h

CJK_SEPARATORS = ["\n\n", "\n", "。", "！", "？", ".", "?", "!", "；", "，", "、", " ", ""]
SIDES = ("agentkit", "langchain", "chonkie")


def load(lang: str, quick: bool) -> list[str]:
    if lang == "zh":
        return [h.chinese_text(50_000 if quick else 400_000)]
    return [t for _, t in h.english_texts(quick)]


def make(side: str, lang: str, size: int, overlap: int):  # type: ignore[no-untyped-def]
    """A function text -> list of chunk texts (agentkit and chonkie compute spans too)."""
    seps = CJK_SEPARATORS if lang == "zh" else h.SEPARATORS
    if side == "agentkit":
        from agentkit.chunking import make_splitter

        ours = make_splitter("recursive", chunk_size=size, chunk_overlap=overlap, separators=seps)
        return lambda text: [c.text for c in ours.split(text)]
    if side == "langchain":
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        theirs = RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap, separators=seps, keep_separator="start")
        return theirs.split_text
    from chonkie import RecursiveChunker, RecursiveLevel, RecursiveRules

    levels = [RecursiveLevel(delimiters=["\n\n"]), RecursiveLevel(delimiters=["\n"])]
    marks = [s for s in seps if s not in ("\n\n", "\n", " ", "")]
    levels += [RecursiveLevel(delimiters=marks), RecursiveLevel(whitespace=True), RecursiveLevel()]
    chunker = RecursiveChunker(tokenizer="character", chunk_size=size, rules=RecursiveRules(levels=levels), min_characters_per_chunk=1)
    return lambda text: [c.text for c in chunker.chunk(text)]


def child(side: str, lang: str, size: int, overlap: int, reps: int, quick: bool) -> None:
    texts = load(lang, quick)
    split = make(side, lang, size, overlap)
    best_wall = best_cpu = float("inf")
    for _ in range(reps):
        with h.Clock() as c:
            chunks = [split(t) for t in texts]
        best_wall, best_cpu = min(best_wall, c.wall), min(best_cpu, c.cpu)
    flat = [x for per in chunks for x in per]
    digest = hashlib.sha256("\x00".join(flat).encode()).hexdigest()[:16]
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    h.emit({"mb": mb, "wall_s": best_wall, "cpu_s": best_cpu, "chunks": len(flat), "digest": digest, "max_chars": max(map(len, flat))})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the two smallest corpora and 50k Chinese characters")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--child", nargs=6)
    args = parser.parse_args()
    if args.child:
        side, lang, size, overlap, reps, quick = args.child
        return child(side, lang, int(size), int(overlap), int(reps), quick == "1")

    print(h.machine(), file=sys.stderr)
    rows, notes = [], []
    for lang in ("en", "zh"):
        for size, overlap in ((800, 100), (800, 0)):
            sides = [s for s in SIDES if not (s == "chonkie" and overlap)]
            argv = {s: [s, lang, str(size), str(overlap), str(args.reps), "1" if args.quick else "0"] for s in sides}
            jobs = {s: (lambda r, a=argv[s]: h.run_child(Path(__file__), a)) for s in sides}
            res = h.interleaved(jobs, args.runs, lambda m: print(m, file=sys.stderr, flush=True))
            ours = h.med(res["agentkit"], "cpu_s")
            if res["agentkit"][0]["digest"] != res["langchain"][0]["digest"]:
                notes.append(f"{lang} {size}/{overlap}: agentkit and LangChain chunk texts DIFFER")
            for s in sides:
                cpu, wall, mb = h.med(res[s], "cpu_s"), h.med(res[s], "wall_s"), res[s][0]["mb"]
                ratio = "" if s == "agentkit" else f"agentkit x{cpu / ours:.2f}"
                rows.append([lang, f"{size}/{overlap}", s, res[s][0]["chunks"], res[s][0]["max_chars"], f"{mb / cpu:.1f}", f"{mb / wall:.1f}", ratio])
    print(f"\n{h.machine()}\n{h.versions('langchain-text-splitters', 'chonkie')}")
    print(f"best of {args.reps} reps per process, medians of {args.runs} fresh processes per side, order alternating{'; quick subset' if args.quick else ''}\n")
    print(h.table(["text", "size/overlap", "splitter", "chunks", "longest", "MB/s (CPU)", "MB/s (wall)", "vs agentkit (CPU)"], rows))
    print("\nchunk texts agentkit == LangChain: " + ("identical in every setting" if not notes else "; ".join(notes)))


if __name__ == "__main__":
    main()
