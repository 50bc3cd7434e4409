"""agentkit's own plugins, registered through the same entry point a third-party plugin uses.

Factories are ``"module:attribute"`` strings: nothing here is imported until a plugin is used, so listing
plugins stays cheap and a missing optional dependency only matters for the plugin that needs it.
"""

from __future__ import annotations

from agentkit.plugins import Registrar


def register(r: Registrar) -> None:
    _llms(r)
    _embedders(r)
    _chunking(r)
    _knowledge_bases(r)
    _search(r)
    _vision(r)
    _pipelines(r)
    _loaders(r)
    _quality(r)
    _exports(r)


def _llms(r: Registrar) -> None:
    r.add("llm", "llama-cpp", "agentkit.llm.llama_cpp:LlamaCppLLM.from_spec", options="agentkit.llm.llama_cpp:LlamaCppOptions",
          summary="a GGUF file in-process (llama-cpp-python); 'default' is the embedded SmolLM2-135M-Instruct",
          examples=["llama-cpp://default", "llama-cpp:///models/x.gguf?n_ctx=8192"])
    r.add("llm", "ollama", "agentkit.llm.ollama:OllamaLLM.from_spec", options="agentkit.llm.ollama:OllamaOptions",
          summary="a model served by Ollama (host from ?host= or OLLAMA_HOST)", examples=["ollama://llama3.2:3b"])
    for scheme in ("openai", "openai+https"):
        r.add("llm", scheme, "agentkit.llm.openai_compat:OpenAICompatLLM.from_spec", options="agentkit.llm.openai_compat:OpenAIOptions",
              summary="an OpenAI-compatible chat server (vLLM, llama.cpp server, LM Studio, xinference)",
              examples=[f"{scheme}://127.0.0.1:8000/v1#MODEL"])
    r.add("llm", "hf", "agentkit.finetune.hf_llm:HFLLM.from_spec", options="agentkit.finetune.hf_llm:HFOptions", extra="finetune",
          summary="a Hugging Face model (+ LoRA adapter) with transformers in-process", examples=["hf://default?adapter=out/adapter"])


def _embedders(r: Registrar) -> None:
    r.add("embedder", "sentence-transformers", "agentkit.embeddings:sentence_transformers_from_spec",
          options="agentkit.embeddings:SentenceTransformersOptions",
          summary="a local sentence-transformers model; 'default' is the embedded all-MiniLM-L6-v2",
          examples=["sentence-transformers://default", "sentence-transformers:///models/bge-small"])
    r.add("embedder", "ollama", "agentkit.embeddings:ollama_from_spec", options="agentkit.embeddings:OllamaEmbedderOptions",
          summary="Ollama's /api/embed", examples=["ollama://nomic-embed-text"])
    for scheme in ("openai", "openai+https"):
        r.add("embedder", scheme, "agentkit.embeddings:openai_from_spec", summary="an OpenAI-compatible /v1/embeddings endpoint",
              examples=[f"{scheme}://127.0.0.1:8000/v1#MODEL"])


def _chunking(r: Registrar) -> None:
    for name, cls, summary in (
        ("recursive", "recursive:RecursiveSplitter", "separators from paragraphs down to characters (LangChain's algorithm, exact spans)"),
        ("token", "token:TokenSplitter", "fixed windows of tokens"),
        ("sentence", "sentence:SentenceSplitter", "whole sentences packed to the size (。！？ too)"),
        ("markdown", "markdown:MarkdownSplitter", "Markdown-aware, with heading paths"),
        ("semantic", "semantic:SemanticSplitter", "cuts where neighbouring sentences' embeddings drift apart"),
        ("paragraph", "paragraph:ParagraphSplitter", "sentences packed within paragraphs and sections"),
    ):
        r.add("splitter", name, f"agentkit.chunking.{cls}", summary=summary)
    r.add("tokenizer", "cl100k", "agentkit.chunking.tokenizers:cl100k_from_spec", summary="tiktoken cl100k_base (offline)", examples=["cl100k"])
    r.add("tokenizer", "minilm", "agentkit.chunking.tokenizers:minilm_from_spec", summary="the embedded embedder's WordPiece tokenizer", examples=["minilm"])
    r.add("tokenizer", "hf", "agentkit.chunking.tokenizers:hf_from_spec", summary="a local Hugging Face tokenizer directory",
          examples=["hf:///path/to/tokenizer"])


def _knowledge_bases(r: Registrar) -> None:
    r.add("knowledge_base", "chroma", "agentkit.retrievers.knowledge_base:KnowledgeBase.from_spec",
          options="agentkit.retrievers.knowledge_base:ChromaOptions",
          summary="embedded Chroma in a directory, BM25 beside it (a bare path means this)", examples=["chroma://.agentkit/kb", ".agentkit/kb"])
    for scheme in ("chroma+http", "chroma+https"):
        r.add("knowledge_base", scheme, "agentkit.retrievers.knowledge_base:KnowledgeBase.from_spec",
              options="agentkit.retrievers.knowledge_base:ChromaOptions",
              summary="a Chroma server collection ('chroma run'), BM25 cached locally", examples=[f"{scheme}://127.0.0.1:8000/COLLECTION"])
    for scheme in ("ragflow", "ragflows"):
        r.add("knowledge_base", scheme, "agentkit.retrievers.ragflow:RagflowKnowledgeBase.from_parsed_spec",
              options="agentkit.retrievers.ragflow:RagflowOptions", summary="RAGFlow datasets over its HTTP API (ragflows = https; several: DATASET,OTHER)",
              examples=[f"{scheme}://127.0.0.1:9380/DATASET"])


def _search(r: Registrar) -> None:
    r.add("search", "google", "agentkit.tools.search:GoogleSearch.from_spec", options="agentkit.tools.search:GoogleOptions", extra="web",
          summary="Google through googlesearch-python", examples=["google", "google?lang=zh-TW"])
    r.add("search", "duckduckgo", "agentkit.tools.search:DuckDuckGoSearch.from_spec", options="agentkit.tools.search:DuckDuckGoOptions",
          extra="web", summary="DuckDuckGo through ddgs", examples=["duckduckgo"])
    for scheme in ("searxng", "searxng+https"):
        r.add("search", scheme, "agentkit.tools.search:SearxngSearch.from_spec", options="agentkit.tools.search:SearxngOptions",
              summary="a SearXNG instance's JSON API (URL also from AGENTKIT_SEARXNG_URL)", examples=[f"{scheme}://127.0.0.1:8888"])
    r.add("search", "local", "agentkit.tools.search:LocalSearch.from_spec", summary="BM25 over a folder of saved pages (urls.json maps files to URLs)",
          examples=["local://./pages"])


def _vision(r: Registrar) -> None:
    for scheme in ("openai", "openai+https"):
        r.add("vision", scheme, "agentkit.vision.openai:OpenAIVision.from_spec", options="agentkit.vision.openai:OpenAIVisionOptions", extra="vision",
              summary="a vision-language model on an OpenAI-compatible server (vLLM, llama-server --mmproj, mlx-vlm, LM Studio)",
              examples=[f"{scheme}://127.0.0.1:8080/v1#MODEL"])
    r.add("vision", "ollama", "agentkit.vision.ollama:OllamaVision.from_spec", options="agentkit.vision.ollama:OllamaVisionOptions", extra="vision",
          summary="an Ollama model with the vision capability", examples=["ollama://qwen2.5vl"])


def _pipelines(r: Registrar) -> None:
    for name in ("naive", "rag", "rag-agent"):
        r.add("pipeline", name, f"agentkit.pipeline.builtin:{name.replace('-', '_')}",
              summary={"naive": "question → answer", "rag": "retrieve → answer", "rag-agent": "extract question → keywords → retrieve → answer"}[name])
    for name, cls in (("extract_question", "ExtractQuestion"), ("extract_keywords", "ExtractKeywords"), ("retrieve", "Retrieve"), ("answer", "Answer"),
                      ("describe_image", "DescribeImage")):
        r.add("step", name, f"agentkit.pipeline.steps:{cls}.from_dict", summary=f"the built-in {cls} step")
    r.add("step", "mcp_tool", "agentkit.mcp.steps:McpToolStep.from_dict", extra="mcp",
          summary="look up the query with a tool of an MCP server and add its chunks to the contexts")


def _loaders(r: Registrar) -> None:
    for name, cls, summary in (
        ("text", "TextLoader", "plain text and Markdown, charset detected; spans index the file as Python reads it"),
        ("html", "HtmlLoader", "visible text of HTML (hidden text removed by the CSS cascade)"),
        ("pdf", "PdfLoader", "text of PDF pages (pypdf)"),
        ("jsonl", "JsonlLoader", "one document per JSONL row (--text-column)"),
        ("csv", "CsvLoader", "one document per CSV row (--text-column)"),
    ):
        r.add("loader", name, f"agentkit.loaders:{cls}", summary=summary)


def _quality(r: Registrar) -> None:
    r.add("judge", "llm", "agentkit.judges:LLMJudge", summary="an LLM grades with a rubric: correctness, groundedness, answerability or quality")
    for name, cls, summary in (
        ("attachment-claims", "AttachmentClaims", "the answer talks about an image or file the turn never had: fall back"),
        ("degenerate", "Degenerate", "empty, cut off or looping: retry with more room or more penalty"),
        ("language-rule", "LanguageRule", "the answer language: Chinese converted to the asked script (OpenCC), another language retried, then kept with a note"),
    ):
        r.add("guard", name, f"agentkit.chat.guardrails:{cls}", summary=summary)
    for name, cls, summary in (
        ("length", "LengthFilter", "too short or too long questions and answers"),
        ("standalone", "StandaloneFilter", "questions that only make sense next to their passage"),
        ("language", "LanguageFilter", "records not in the asked language or script"),
        ("grounded", "LexicalGroundedness", "answers whose words are not in their context"),
        ("judge", "JudgeGroundedness", "an LLM judge on groundedness (--judge-llm)"),
        ("exact", "ExactDedup", "exact duplicates"),
        ("numbers", "NumbersDedup", "duplicates up to their numbers"),
        ("minhash", "MinHashDedup", "near-duplicates (MinHash)"),
        ("novelty", "NoveltyFilter", "questions too like a kept one (ROUGE-L >= 0.7, CJK-aware), unless the answers differ"),
        ("embedding", "EmbeddingDedup", "near-duplicate questions by embedding cosine (--dedup-embedding)"),
        ("quotes", "QuoteFilter", "RAFT answers whose quotes are not in their chunk, or without quotes or <ANSWER>:"),
    ):
        r.add("filter", name, f"agentkit.distill.filters:{cls}", summary=summary, extra="distill" if name in ("minhash", "novelty", "quotes") else "")


def _exports(r: Registrar) -> None:
    for name, summary in (
        ("alpaca", "instruction/input/output (+ system, history): LLaMA-Factory, Unsloth"),
        ("sharegpt", "conversations from/value: LLaMA-Factory, Unsloth"),
        ("messages", "OpenAI/TRL role/content messages"),
        ("mlx", "a folder of train/valid/test.jsonl that mlx_lm.lora --data reads"),
        ("completion", "TRL conversational prompt/completion (loss on the completion)"),
        ("hf", "a datasets DatasetDict saved to disk (load_from_disk)"),
    ):
        r.add("export_format", name, f"agentkit.distill.export:{name}_format", summary=summary, extra="distill" if name == "hf" else "")
