"""The NTU ML2025 HW01 benchmark: question files, a resumable runner, and strict/lenient/LLM scoring."""

from agentkit.hw01.data import HW01Item, load_answers, load_items
from agentkit.hw01.runner import RunSummary, run_questions, write_answers
from agentkit.hw01.scoring import MODES, ScoreReport, Verdict, match, score

# NTU's posted baselines: correct answers on the public (30) and private (60) sets.
BASELINES = {"simple": (4, 6), "medium": (10, 15), "strong": (18, 22)}

__all__ = ["HW01Item", "load_answers", "load_items", "RunSummary", "run_questions", "write_answers", "MODES", "ScoreReport", "Verdict", "match", "score", "BASELINES"]
