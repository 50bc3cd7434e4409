"""Evaluation: span-level chunking evaluation (Chroma's method) and its reports."""

from agentkit.evaluation.chunking_eval import METRICS, MODES, ChunkingEvaluation, EvalData, EvalQuestion, EvalResult, Reference, load_eval_data
from agentkit.evaluation.metrics import QuestionScore, min_k, precision_omega, retrieval_scores

__all__ = [
    "METRICS", "MODES", "ChunkingEvaluation", "EvalData", "EvalQuestion", "EvalResult", "Reference", "load_eval_data",
    "QuestionScore", "min_k", "precision_omega", "retrieval_scores",
]
