"""Distillation: documents → teacher-generated, filtered, de-duplicated, split QA datasets in the formats
fine-tuning tools read — plain question–answer rows or RAFT rows (documents + question → quoted reasoning)."""

from agentkit.distill.export import FORMATS, export
from agentkit.distill.filters import default_filters, run_filters
from agentkit.distill.generate import STYLES, GenerationError, QuestionGenerator, parse_questions
from agentkit.distill.job import Checkpoint, DistillConfig, DistillJob, DistillReport
from agentkit.distill.raft import RaftSettings
from agentkit.distill.records import PROMPT_VERSION, QARecord
from agentkit.distill.refusals import AbsenceCheck
from agentkit.distill.splits import parse_split, split_records

__all__ = [
    "FORMATS", "export", "default_filters", "run_filters", "STYLES", "GenerationError", "QuestionGenerator", "parse_questions",
    "Checkpoint", "DistillConfig", "DistillJob", "DistillReport", "PROMPT_VERSION", "QARecord", "parse_split", "split_records",
    "RaftSettings", "AbsenceCheck",
]
