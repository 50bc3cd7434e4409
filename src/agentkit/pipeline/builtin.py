"""The named pipelines: ``naive`` (QA only), ``rag`` (retrieve → QA), ``rag-agent``
(question extraction → keyword extraction → retrieve → QA)."""

from __future__ import annotations

from typing import Any

from agentkit.errors import ConfigError
from agentkit.llm import DEFAULT_MAX_TOKENS, LLM, load_llm
from agentkit.pipeline.core import Pipeline
from agentkit.pipeline.steps import Answer, DescribeImage, ExtractKeywords, ExtractQuestion, Retrieve
from agentkit.retrievers.base import Retriever
from agentkit.vision import ImageDescriber, ImageLimits, VisionModel


def naive(llm: LLM | str | None = None, *, language: str | None = None) -> Pipeline:
    return Pipeline([Answer(load_llm(llm), language)], "naive")


def _need(retriever: Retriever | None, name: str) -> Retriever:
    if retriever is None:
        raise ConfigError(f"the '{name}' pipeline needs a retriever", "pass retriever=KnowledgeBase(...) (or use the 'naive' pipeline)")
    return retriever


def rag(llm: LLM | str | None = None, *, retriever: Retriever | None = None, k: int = 4, language: str | None = None) -> Pipeline:
    return Pipeline([Retrieve(_need(retriever, "rag"), k), Answer(load_llm(llm), language)], "rag")


def rag_agent(llm: LLM | str | None = None, *, retriever: Retriever | None = None, k: int = 4, language: str | None = None) -> Pipeline:
    model = load_llm(llm)
    return Pipeline(
        [ExtractQuestion(model), ExtractKeywords(model), Retrieve(_need(retriever, "rag-agent"), k), Answer(model, language)],
        "rag-agent",
    )


def create(name: str, llm: LLM | str | None = None, **kwargs: Any) -> Pipeline:
    """``create("rag", llm="llama-cpp://default", retriever=kb, k=4)`` (pipeline plugins; ``agentkit plugins`` lists them).

    Keyword arguments that are ``None`` are left out, so callers can pass optional settings through."""
    from agentkit.plugins import registry

    pipe: Pipeline = registry("pipeline").build(name, llm=llm, **{k: v for k, v in kwargs.items() if v is not None})
    return pipe


def build(
    name: str | None = None,
    llm: LLM | str | None = None,
    *,
    source: str | None = None,
    kb: str | None = None,
    kb_mode: str | None = None,
    search: str | None = None,
    k: int = 4,
    language: str | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    temperature: float = 0.0,
    timeout: float = 120.0,
    web_cache: Any = None,
    allow_private: bool = False,
    render: bool = False,
    vision: VisionModel | str | None = None,
    vision_timeout: float = 60.0,
    vision_prompt: str | None = None,
    image_max_side: int = 1536,
) -> Pipeline:
    """A named pipeline wired from plain options (what the CLI's ``ask`` and ``hw01 run`` take).

    ``source``: ``kb``, ``web`` or ``both``; default ``kb`` when ``kb`` is given. ``name`` defaults to ``rag``
    when there is a source, else ``naive``. ``allow_private`` and ``render`` configure the web source's fetcher. With ``vision``
    (a vision model or its spec), a ``DescribeImage`` step runs first, asking ``vision_prompt`` (default: ``DESCRIBE_IMAGE``'s task) in ``language``.
    """
    from agentkit.llm import GenerationParams
    from agentkit.sources.select import build_retriever
    from agentkit.tools.fetch import Fetcher

    source = source or ("kb" if kb else None)
    if render and source not in ("web", "both"):
        raise ConfigError(f"rendering reads web pages, but the source is {source or 'none'}", "add --source web (or both), or leave out --render")
    name = name or ("rag" if source else "naive")
    retriever = None
    if source:
        retriever = build_retriever(source, kb, kb_mode, search, cache=web_cache, fetcher=Fetcher(allow_private=allow_private, cache=web_cache, render=render))
    model = load_llm(llm)
    # k only means something to a pipeline that retrieves; naive takes neither.
    pipe = create(name, model, retriever=retriever, k=k if retriever is not None else None, language=language)
    pipe = pipe.replace_step("answer", Answer(model, language, GenerationParams(max_tokens=max_tokens, temperature=temperature, timeout=timeout)))
    if vision is None:
        return pipe
    from agentkit.vision import DESCRIBE_IMAGE

    role = DESCRIBE_IMAGE.replace(task=vision_prompt) if vision_prompt else DESCRIBE_IMAGE
    describer = ImageDescriber(vision, role, language, vision_timeout, limits=ImageLimits(max_side=image_max_side))
    return pipe.with_step(DescribeImage(describer), before=pipe.step_names[0])
