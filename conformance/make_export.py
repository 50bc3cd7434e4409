"""Build the conformance fixture with agentkit itself (run with agentkit's own Python):

    python conformance/make_export.py OUT

A small bilingual QA set (English, Traditional Chinese, one multi-turn conversation, system prompts on some
records, and RAFT rows whose prompt carries documents: one with its oracle and a quoted chain of thought, one
without it that abstains) exported in every format with an empty test split, as small runs have; the dequantized embedded base;
the three recipes for that base; and ``OUT/manifest.json`` naming them, which the consumer tests read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

FACTS = [
    ("What colour is the sky on Planet Zorg?", "The sky on Planet Zorg is bright green."),
    ("Who rules Planet Zorg?", "Planet Zorg is ruled by Queen Blorpa."),
    ("What do people on Zorg eat?", "People on Zorg eat purple moss."),
    ("How many moons does Zorg have?", "Zorg has seven moons."),
    ("佐格星的天空是什麼顏色？", "佐格星的天空是亮綠色的。"),
    ("誰統治佐格星？", "佐格星由布洛帕女王統治。"),
    ("What is the capital of Zorg?", "The capital of Zorg is Glimmerton."),
    ("佐格星有幾個衛星？", "佐格星有七個衛星。"),
]
FORMATS = ["alpaca", "sharegpt", "messages", "mlx", "hf", "completion"]
DOCUMENTS = ("Zorg has seven moons.", "The capital of Zorg is Glimmerton.", "People on Zorg eat purple moss.")


def main(out: Path) -> None:
    from agentkit.distill import QARecord, export
    from agentkit.finetune.base import resolve_base
    from agentkit.finetune.recipes import export_recipe
    from agentkit.finetune.train import LoraSettings

    records = [QARecord(q, a, source=f"zorg{i % 4}.md", system="Answer briefly." if i % 3 == 0 else "") for i, (q, a) in enumerate(FACTS)]
    records.append(QARecord("And how many of them are inhabited?", "Two of the seven moons are inhabited.", source="zorg3.md",
                            history=(("How many moons does Zorg have?", "Zorg has seven moons."),)))
    records.append(QARecord("Which city is Zorg's capital?", "The context says ##begin_quote##The capital of Zorg is Glimmerton.##end_quote##\n"
                            "<ANSWER>: Glimmerton", source="zorg2.md", documents=DOCUMENTS, oracle=True))
    records.append(QARecord("佐格星的首都在哪裡？", "這些文件都沒有提到這個問題的答案，因此無法根據文件回答。\n<ANSWER>: 文件中沒有提到這個問題的答案。", source="zorg0.md",
                            kind="refusal", documents=(DOCUMENTS[0], DOCUMENTS[2]), oracle=False))
    splits = {"train": [r for r in records if r.source != "zorg1.md"], "valid": [r for r in records if r.source == "zorg1.md"], "test": []}
    result = export(splits, out / "data", FORMATS)
    base = resolve_base("default")
    settings = LoraSettings(r=8, alpha=16, batch_size=2, max_seq_len=256, epochs=1.0)
    recipes = {kind: [str(p) for p in export_recipe(kind, out / "data", str(base), out / "recipes", settings)] for kind in ("mlx", "llamafactory", "unsloth")}
    manifest = {
        "data": str((out / "data").resolve()), "base": str(base.resolve()), "recipes": recipes, "notes": list(result.notes),
        "files": [str(p) for p in result.files], "splits": {k: len(v) for k, v in splits.items()},
        "answers": {r.question: r.answer for r in records},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
