"""Before/after measurement of models on a held-out split: exact and normalized match, token F1, ROUGE-L,
an optional LLM-judge score, latency and tokens/s, and the change between the first model (the base) and the others."""

from __future__ import annotations

import re
import statistics
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentkit.distill.records import QARecord
from agentkit.judges import QUALITY_ASPECTS
from agentkit.llm import GenerationParams, load_llm
from agentkit.llm.base import Message

METRICS = ("exact", "normalized", "token_f1", "rouge_l")
JUDGE_ASPECTS = QUALITY_ASPECTS


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def tokens(text: str) -> list[str]:
    """Words, with every CJK character its own token (so Chinese answers get a meaningful F1)."""
    return re.findall(r"[\u3400-\u9fff]|[^\W\u3400-\u9fff]+", normalize(text))


def token_f1(prediction: str, reference: str) -> float:
    pred, ref = tokens(prediction), tokens(reference)
    if not pred or not ref:
        return float(pred == ref)
    common = sum(min(pred.count(t), ref.count(t)) for t in set(pred))
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 over tokens (longest common subsequence)."""
    pred, ref = tokens(prediction), tokens(reference)
    if not pred or not ref:
        return float(pred == ref)
    previous = [0] * (len(ref) + 1)
    for p in pred:
        current = [0]
        for j, r in enumerate(ref, 1):
            current.append(previous[j - 1] + 1 if p == r else max(previous[j], current[j - 1]))
        previous = current
    lcs = previous[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def score_prediction(prediction: str, reference: str) -> dict[str, float]:
    return {
        "exact": float(prediction.strip() == reference.strip()),
        "normalized": float(normalize(prediction) == normalize(reference)),
        "token_f1": token_f1(prediction, reference),
        "rouge_l": rouge_l(prediction, reference),
    }


@dataclass
class ModelReport:
    model: str
    metrics: dict[str, float]
    latency_s: float
    tokens_per_s: float
    predictions: list[str] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, **{k: round(v, 4) for k, v in self.metrics.items()}, "latency_s": round(self.latency_s, 3), "tokens_per_s": round(self.tokens_per_s, 1)}


def _judge(judge: Any, record: QARecord, prediction: str) -> dict[str, float]:
    """The four 1–10 aspects from the one LLMJudge (``quality`` rubric); a judge without a verdict scores 1."""
    from agentkit.judges import JudgeCase

    verdict = judge.judge(JudgeCase(record.question, prediction, references=(record.answer,)))
    return {f"judge_{a}": verdict.aspects.get(a, 1.0) for a in JUDGE_ASPECTS}


def evaluate_models(models: Sequence[Any], records: Sequence[QARecord], judge: Any = None, max_tokens: int = 128, progress: Any = None) -> list[ModelReport]:
    from agentkit.judges import LLMJudge

    judge_llm = LLMJudge(judge, "quality") if judge else None
    reports = []
    total = len(models) * len(records)
    done = 0
    for spec in models:
        llm = load_llm(spec)
        rows: list[dict[str, float]] = []
        latencies, rates, predictions = [], [], []
        for r in records:
            messages = ([Message("system", r.system)] if r.system else []) + [Message("user", r.question)]
            started = time.perf_counter()
            completion = llm.generate(messages, GenerationParams(max_tokens=max_tokens))
            seconds = time.perf_counter() - started
            latencies.append(seconds)
            rates.append(completion.usage.completion_tokens / seconds if seconds > 0 else 0.0)
            prediction = completion.text.strip()
            predictions.append(prediction)
            row = score_prediction(prediction, r.answer)
            if judge_llm is not None:
                row.update(_judge(judge_llm, r, prediction))
            rows.append(row)
            done += 1
            if progress:
                progress(done, total)
        metrics = {k: statistics.mean(row[k] for row in rows) for k in rows[0]} if rows else {}
        reports.append(ModelReport(llm.spec, metrics, statistics.mean(latencies) if latencies else 0.0, statistics.mean(rates) if rates else 0.0, predictions))
    return reports


def changes(reports: Sequence[ModelReport]) -> list[dict[str, float]]:
    """Per model after the first: change in % of each metric relative to the first (the base)."""
    base = reports[0]
    out = []
    for report in reports[1:]:
        row = {}
        for key, value in [*report.metrics.items(), ("latency_s", report.latency_s), ("tokens_per_s", report.tokens_per_s)]:
            before = base.metrics.get(key) if key in base.metrics else getattr(base, key)
            row[key] = (value - before) / before * 100 if before else (float("inf") if value else 0.0)
        out.append(row)
    return out


def bar_chart(reports: Sequence[ModelReport], target: str | Path) -> Path:
    from agentkit.plotting import grouped_bars

    keys = [k for k in reports[0].metrics if not k.startswith("judge_")]
    series = {r.model[-40:]: [100 * r.metrics[k] for k in keys] for r in reports}
    return grouped_bars(keys, series, target, "model-eval on the held-out split", "%", value_format="%.0f")
