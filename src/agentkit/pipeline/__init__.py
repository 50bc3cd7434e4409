"""Composable QA pipelines: ``from agentkit import pipeline; pipeline.create("rag", retriever=kb).run(q)``."""

from agentkit.pipeline.builtin import build, create, naive, rag, rag_agent
from agentkit.pipeline.core import Pipeline, QAState, RunResult, Step, StepRecord, load, step_name
from agentkit.pipeline.steps import Answer, DescribeImage, ExtractKeywords, ExtractQuestion, Retrieve, parse_keywords

__all__ = [
    "build",
    "create", "load", "naive", "rag", "rag_agent", "Pipeline", "QAState", "RunResult", "Step", "StepRecord",
    "step_name", "Answer", "DescribeImage", "ExtractKeywords", "ExtractQuestion", "Retrieve", "parse_keywords",
]
