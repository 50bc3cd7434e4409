"""Before/after measurement of models on a held-out split: exact and normalized match, token F1, ROUGE-L,
an optional LLM-judge score, latency and tokens/s, and the change between the first model (the base) and the others.

Every number comes with a 95 % bootstrap interval: the records are resampled with replacement (seeded, 1000 times
by default), the mean recomputed on each resample, and the 2.5th and 97.5th percentiles taken. The change is
paired — base and tuned model are resampled with the same records — so its interval says whether "improved" is more
than the luck of which questions were held out.
"""

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
from agentkit.distill.text import lcs_length
from agentkit.judges import QUALITY_ASPECTS
from agentkit.llm import DEFAULT_MAX_TOKENS, GenerationParams, load_llm
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
    lcs = lcs_length(pred, ref)
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
    #: per record: every metric, latency_s and tokens_per_s (what the intervals resample)
    rows: list[dict[str, float]] = field(default_factory=list, repr=False)
    #: 95 % bootstrap interval (low, high) of each metric, latency_s and tokens_per_s
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)

    def values(self) -> dict[str, float]:
        return {**self.metrics, "latency_s": self.latency_s, "tokens_per_s": self.tokens_per_s}

    def to_dict(self) -> dict[str, Any]:
        data = {"model": self.model, **{k: round(v, 4) for k, v in self.metrics.items()}, "latency_s": round(self.latency_s, 3), "tokens_per_s": round(self.tokens_per_s, 1)}
        def r(x: float) -> float | None:
            return None if x != x else round(x, 4)  # NaN (no interval) is null in JSON

        return data | ({"intervals": {k: [r(lo), r(hi)] for k, (lo, hi) in self.intervals.items()}} if self.intervals else {})


@dataclass(frozen=True)
class Change:
    """A model's change from the base on one metric: the difference of means with its paired 95 % interval, and
    the same in % of the base (None where the base is 0)."""

    delta: float
    low: float
    high: float
    pct: float | None
    pct_low: float | None
    pct_high: float | None

    @property
    def significant(self) -> bool:
        """The interval excludes no change."""
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return None if x is None or x != x else round(x, 4)  # NaN (no interval) is null in JSON

        return {"delta": r(self.delta), "ci": [r(self.low), r(self.high)], "pct": r(self.pct), "pct_ci": [r(self.pct_low), r(self.pct_high)]}


def resample_index(n: int, resamples: int = 1000, seed: int = 0) -> Any:
    """``(resamples, n)`` record indices drawn with replacement from a seeded generator."""
    import numpy as np

    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def _percentiles(samples: Any, confidence: float) -> tuple[float, float]:
    import numpy as np

    tail = (1 - confidence) / 2 * 100
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap(reports: Sequence[ModelReport], resamples: int = 1000, seed: int = 0, confidence: float = 0.95) -> list[dict[str, Change]]:
    """Fill every report's ``intervals`` and return, per model after the first, its paired ``Change`` per key.
    One index matrix serves every model, so the changes are paired and a run is reproducible from ``seed``."""
    import numpy as np

    if not reports or not reports[0].rows:
        return [{} for _ in reports[1:]]
    if len(reports[0].rows) < 2:  # one record has no spread to resample: no interval rather than a zero-width one
        nan = float("nan")
        for report in reports:
            report.intervals = {k: (nan, nan) for k in report.rows[0]}
        base = reports[0].values()
        return [{k: Change(v - base[k], nan, nan, (v - base[k]) / base[k] * 100 if base[k] else None, None, None) for k, v in r.values().items()}
                for r in reports[1:]]
    index = resample_index(len(reports[0].rows), resamples, seed)
    keys = list(reports[0].rows[0])
    means = []
    for report in reports:
        values = np.array([[row[k] for k in keys] for row in report.rows], dtype=np.float64)
        sampled = values[index].mean(axis=1)  # (resamples, keys)
        report.intervals = {k: _percentiles(sampled[:, j], confidence) for j, k in enumerate(keys)}
        means.append((values.mean(axis=0), sampled))
    base_mean, base_sampled = means[0]
    out = []
    for mean, sampled in means[1:]:
        changes: dict[str, Change] = {}
        for j, k in enumerate(keys):
            low, high = _percentiles(sampled[:, j] - base_sampled[:, j], confidence)
            with np.errstate(divide="ignore", invalid="ignore"):
                pct_samples = np.where(base_sampled[:, j] != 0, (sampled[:, j] - base_sampled[:, j]) / base_sampled[:, j] * 100, np.nan)
            pct = (mean[j] - base_mean[j]) / base_mean[j] * 100 if base_mean[j] else None
            pct_low, pct_high = _percentiles(pct_samples, confidence) if pct is not None else (None, None)
            changes[k] = Change(float(mean[j] - base_mean[j]), low, high, pct, pct_low, pct_high)
        out.append(changes)
    return out


def _judge(judge: Any, record: QARecord, prediction: str) -> dict[str, float]:
    """The four 1–10 aspects from the one LLMJudge (``quality`` rubric); a judge without a verdict scores 1."""
    from agentkit.judges import JudgeCase

    verdict = judge.judge(JudgeCase(record.question, prediction, references=(record.answer,)))
    return {f"judge_{a}": verdict.aspects.get(a, 1.0) for a in JUDGE_ASPECTS}


def evaluate_models(models: Sequence[Any], records: Sequence[QARecord], judge: Any = None, max_tokens: int = DEFAULT_MAX_TOKENS, progress: Any = None,
                    resamples: int = 1000, seed: int = 0) -> list[ModelReport]:
    """Score each model on ``records``; every report carries its per-record rows and bootstrap ``intervals``
    (``resamples`` seeded resamples; ``bootstrap(reports)`` gives the paired changes)."""
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
        per_record = [{**row, "latency_s": t, "tokens_per_s": v} for row, t, v in zip(rows, latencies, rates)]
        reports.append(ModelReport(llm.spec, metrics, statistics.mean(latencies) if latencies else 0.0, statistics.mean(rates) if rates else 0.0, predictions, per_record))
    bootstrap(reports, resamples, seed)
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
    """Bars per metric and model, with the 95 % bootstrap interval as error bars when the reports have one."""
    from agentkit.plotting import grouped_bars

    keys = [k for k in reports[0].metrics if not k.startswith("judge_")]
    series = {r.model[-40:]: [100 * r.metrics[k] for k in keys] for r in reports}
    intervals = {r.model[-40:]: [(100 * r.intervals[k][0], 100 * r.intervals[k][1]) for k in keys] for r in reports if r.intervals}
    return grouped_bars(keys, series, target, "model-eval on the held-out split (bars: 95% bootstrap interval)" if intervals else "model-eval on the held-out split",
                        "%", value_format="%.0f", intervals=intervals or None)


def format_interval(value: float, interval: tuple[float, float] | None, signed: bool = False) -> str:
    """``0.412 [0.351, 0.470]``; signed: ``+0.061 [+0.012, +0.110]``."""
    spec = "+.3f" if signed else ".3f"
    if interval is None or any(x != x for x in interval):  # NaN: no interval
        return format(value, spec)
    return f"{value:{spec}} [{interval[0]:{spec}}, {interval[1]:{spec}}]"
