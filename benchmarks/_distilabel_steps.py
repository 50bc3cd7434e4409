"""A distilabel step for benchmarks/distill.py, in a module of its own: distilabel pickles steps into worker
processes, which import them by module path. No ``from __future__ import annotations``: distilabel reads the
``StepInput`` hint at run time."""

from typing import Any

from distilabel.steps import Step, StepInput


class ToAnswers(Step):
    """One row per question parsed from a ``questions`` generation, with the answer prompt as ``messages``."""

    questions_per_chunk: int = 2
    prompt: str = ""

    @property
    def inputs(self) -> list[str]:
        return ["chunk", "generation"]

    @property
    def outputs(self) -> list[str]:
        return ["messages", "question"]

    def process(self, inputs: StepInput) -> Any:  # type: ignore[override]
        from agentkit.distill.generate import parse_questions

        rows = []
        for row in inputs:
            # distilabel 1.5's batch manager waits for ever on a batch that yields no row (seen: the 'answers' step
            # stalled after a chunk whose generation held no parsable question), so such a chunk keeps one row with
            # its raw generation as the question. This favours distilabel: it gets a record agentkit would not count.
            found = parse_questions(row["generation"] or "", self.questions_per_chunk) or [(row["generation"] or "(no question)").strip()[:200]]
            for q in found:
                rows.append({"chunk": row["chunk"], "question": q, "messages": [{"role": "user", "content": self.prompt.format(chunk=row["chunk"], question=q)}]})
        yield rows
