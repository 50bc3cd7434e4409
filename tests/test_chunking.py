"""Span invariants (property tests over random text, CJK and emoji included) and splitter behaviour."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentkit.chunking import make_splitter, sentence_spans, splitter_from_dict
from agentkit.errors import ConfigError

ALPHABET = st.sampled_from(list("abc xyz .!?\n\n。！？，臺灣大學😀🚀\t") + ["\n\n", " the ", "# ", "\n## "])
TEXT = st.lists(ALPHABET, max_size=400).map("".join)


def _embed(texts):
    rng = np.random.default_rng(len(texts))
    v = np.stack([np.random.default_rng(abs(hash(t)) % 2**32).normal(size=8) for t in texts]) + rng.normal(size=8) * 0
    return v / np.linalg.norm(v, axis=1, keepdims=True)


SPLITTERS = [
    ("recursive", dict(chunk_size=40, chunk_overlap=10)),
    ("recursive", dict(chunk_size=12, chunk_overlap=4, size_unit="tokens")),
    ("token", dict(chunk_size=10, chunk_overlap=3)),
    ("sentence", dict(chunk_size=50, chunk_overlap=15)),
    ("sentence", dict(chunk_size=15, chunk_overlap=0, size_unit="tokens")),
    ("markdown", dict(chunk_size=60, chunk_overlap=0)),
    ("semantic", dict(chunk_size=60, chunk_overlap=0, embed=_embed)),
    ("paragraph", dict(chunk_size=50, chunk_overlap=0)),
    ("paragraph", dict(chunk_size=12, chunk_overlap=3, size_unit="tokens")),
]


@pytest.mark.parametrize("name, kwargs", SPLITTERS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SPLITTERS)])
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXT)
def test_span_invariant(name, kwargs, text):
    splitter = make_splitter(name, **kwargs)
    chunks = splitter.split(text)
    for c in chunks:
        assert text[c.start:c.end] == c.text
        assert c.text and c.text == c.text.strip()
    starts = [c.start for c in chunks]
    assert starts == sorted(starts)
    if text.strip():
        assert chunks, "non-blank text must give at least one chunk"
    # every non-whitespace character is covered by some chunk
    covered = np.zeros(len(text), dtype=bool)
    for c in chunks:
        covered[c.start:c.end] = True
    assert all(covered[i] or ch.isspace() for i, ch in enumerate(text))


@settings(max_examples=80, deadline=None)
@given(text=TEXT)
def test_recursive_chars_never_exceed_size(text):
    for c in make_splitter("recursive", chunk_size=30, chunk_overlap=5).split(text):
        assert len(c.text) <= 30


def test_recursive_matches_langchain():
    """Same algorithm as LangChain's RecursiveCharacterTextSplitter: identical chunks on a real corpus."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from .conftest import SHARED

    text = (SHARED / "chunking_eval" / "state_of_the_union.md").read_text(encoding="utf-8")[:20000]
    seps = ["\n\n", "\n", ".", "?", "!", " ", ""]
    for size, overlap in [(400, 0), (200, 50), (800, 100)]:
        ours = [c.text for c in make_splitter("recursive", chunk_size=size, chunk_overlap=overlap, separators=seps).split(text)]
        theirs = RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap, separators=seps, keep_separator="start").split_text(text)
        assert ours == theirs


def test_token_windows_have_token_size():
    from agentkit.chunking.tokenizers import get_tokenizer

    text = "Retrieval-augmented generation grounds answers in documents. " * 40 + "臺灣大學的圖書館很大。" * 20
    chunks = make_splitter("token", chunk_size=25, chunk_overlap=5).split(text)
    count = get_tokenizer("cl100k").count
    assert len(chunks) > 5 and all(count(c.text) <= 27 for c in chunks)
    assert chunks[1].start < chunks[0].end  # windows overlap


def test_sentence_splitter_handles_chinese():
    text = "今天天氣很好。我們去爬山！你要一起來嗎？好的。"
    assert [text[a:b] for a, b in sentence_spans(text)] == ["今天天氣很好。", "我們去爬山！", "你要一起來嗎？", "好的。"]
    chunks = make_splitter("sentence", chunk_size=14).split(text)
    assert [c.text for c in chunks] == ["今天天氣很好。我們去爬山！", "你要一起來嗎？好的。"]


def test_sentence_overlap_repeats_whole_sentences():
    text = "One is here. Two is here. Three is here. Four is here."
    chunks = make_splitter("sentence", chunk_size=30, chunk_overlap=15).split(text)
    assert [c.text for c in chunks] == ["One is here. Two is here.", "Two is here. Three is here.", "Three is here. Four is here."]


def test_markdown_heading_path():
    text = "# Guide\n\nIntro text.\n\n## Install\n\nRun pip install.\n\n## Use\n\nCall it.\n\n# Other\n\nMore."
    chunks = make_splitter("markdown", chunk_size=30).split(text)
    by_text = {c.text: c.metadata["headings"] for c in chunks}
    assert by_text["## Install\n\nRun pip install."] == ["Guide", "Install"]
    assert by_text["# Other\n\nMore."] == ["Other"]


def test_semantic_breaks_on_topic_change_and_respects_max():
    topics = {"cat": np.array([1.0, 0, 0]), "car": np.array([0, 1.0, 0])}

    def embed(texts):
        return np.stack([topics["cat" if "cat" in t else "car"] for t in texts])

    text = "The cat sleeps. The cat eats. The cat purrs. The car drives. The car parks. The car honks."
    chunks = make_splitter("semantic", chunk_size=200, embed=embed, breakpoint_percentile=50).split(text)
    assert [c.text for c in chunks] == ["The cat sleeps. The cat eats. The cat purrs.", "The car drives. The car parks. The car honks."]
    small = make_splitter("semantic", chunk_size=20, embed=embed, breakpoint_percentile=50).split(text)
    assert all(len(c.text) <= 20 for c in small)


@pytest.mark.parametrize("kwargs", [dict(chunk_size=100, chunk_overlap=100), dict(chunk_size=0), dict(chunk_size=10, chunk_overlap=-1), dict(size_unit="words")])
def test_bad_settings_rejected(kwargs):
    with pytest.raises(ConfigError):
        make_splitter("recursive", **kwargs)


def test_unknown_splitter_lists_known():
    with pytest.raises(ConfigError) as e:
        make_splitter("magic")
    assert "recursive" in str(e.value) and "semantic" in str(e.value)


def test_splitters_round_trip():
    for name, kwargs in SPLITTERS:
        s = make_splitter(name, **kwargs)
        extra = {"embed": kwargs["embed"]} if "embed" in kwargs else {}
        assert splitter_from_dict(s.to_dict(), **extra).to_dict() == s.to_dict()


# ---- hard maximum, grapheme clusters, CJK separators, fenced code (issue #15, item 13) -----------------

# Emoji ZWJ sequences, flags, skin tones, combining marks (also on a space), Hangul jamo, CR LF, and wide gaps.
CLUSTERS = ["👨‍👩‍👧‍👦", "🇹🇼", "🇯🇵", "👍🏽", "❤️", "e\u0301", "n\u0303\u0301", " \u0301", "\u1100\u1161\u11a8", "क्षि", "\r\n"]
RICH_TEXT = st.lists(st.sampled_from(list("abc xyz .!?。！？，、臺灣大學") + CLUSTERS + ["\n\n", "   ", "\n\n\n", " the ", "# ", "\n## "]), max_size=300).map("".join)
ALL_SPLITTERS = SPLITTERS + [
    ("recursive", dict(chunk_size=25, chunk_overlap=0)),
    ("markdown", dict(chunk_size=20, chunk_overlap=5, size_unit="tokens")),
    ("semantic", dict(chunk_size=14, chunk_overlap=4, size_unit="tokens", embed=_embed)),
    ("paragraph", dict(chunk_size=30, chunk_overlap=0)),
    ("token", dict(chunk_size=16, chunk_overlap=0)),
]


def _boundaries(text):
    import regex

    out, pos = {0}, 0
    for g in regex.findall(r"\X", text):
        pos += len(g)
        out.add(pos)
    return out


@pytest.mark.parametrize("name, kwargs", ALL_SPLITTERS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(ALL_SPLITTERS)])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=RICH_TEXT)
def test_chunks_fit_the_size_and_keep_grapheme_clusters(name, kwargs, text):
    """A stated maximum is a hard maximum, in the splitter's unit; no cut splits a grapheme cluster."""
    import regex

    splitter = make_splitter(name, **kwargs)
    chunks = splitter.split(text)
    boundaries = _boundaries(text)
    for c in chunks:
        assert text[c.start:c.end] == c.text
        clusters = regex.findall(r"\X", c.text)
        assert splitter.size_of(c.text) <= splitter.chunk_size or len(clusters) == 1, (c.text, splitter.size_of(c.text))
        assert c.start in boundaries and c.end in boundaries, c
        assert not clusters[0].isspace() and not clusters[-1].isspace()
    covered = np.zeros(len(text), dtype=bool)
    for c in chunks:
        covered[c.start:c.end] = True
    assert all(covered[i] or ch.isspace() for i, ch in enumerate(text))


@pytest.mark.parametrize("name", ["sentence", "semantic", "paragraph"])
def test_wide_gaps_between_sentences_count(name):
    """Sentences joined by more than one space used to be counted as one: 207 characters at 200."""
    sentence = "The quick brown fox jumps over the lazy dog too."  # 48 characters: four of them fit 200 ...
    text = "    ".join([sentence] * 12)  # ... but not with the three 4-space gaps between them (204)
    kwargs = {"embed": lambda texts: np.ones((len(texts), 3)) / np.sqrt(3)} if name == "semantic" else {}
    chunks = make_splitter(name, chunk_size=200, **kwargs).split(text)
    assert chunks and all(len(c.text) <= 200 for c in chunks), [len(c.text) for c in chunks]
    assert max(len(c.text) for c in chunks) >= 150  # still packed, not one sentence each


def test_token_windows_fit_exactly():
    from agentkit.chunking.tokenizers import get_tokenizer

    text = ("臺灣大學的圖書館很大。😀👨‍👩‍👧‍👦🇹🇼 " * 30) + "Retrieval-augmented generation grounds answers. " * 20
    count = get_tokenizer("cl100k").count
    chunks = make_splitter("token", chunk_size=25, chunk_overlap=5).split(text)
    assert all(count(c.text) <= 25 for c in chunks) and max(count(c.text) for c in chunks) >= 20
    boundaries = _boundaries(text)
    assert all(c.start in boundaries and c.end in boundaries for c in chunks)


def test_recursive_keeps_emoji_and_flags_whole():
    text = "👨‍👩‍👧‍👦🇹🇼🇯🇵" * 10
    for size in (7, 8, 11):
        chunks = make_splitter("recursive", chunk_size=size).split(text)
        assert "".join(c.text for c in chunks) == text
        assert all(c.start in _boundaries(text) and c.end in _boundaries(text) for c in chunks)


def test_recursive_cuts_chinese_at_sentence_ends():
    sentences = ["臺灣大學成立於一九二八年，原名臺北帝國大學。", "校園位於臺北市大安區，占地廣大！", "圖書館藏書豐富，是學生最常去的地方。",
                 "你知道傅鐘為什麼只敲二十一響嗎？", "因為一天只有二十一小時，剩下三小時用來沉思。"]
    text = "".join(sentences * 3)
    chunks = make_splitter("recursive", chunk_size=40).split(text)
    assert len(chunks) > 3 and all(len(c.text) <= 40 for c in chunks)
    assert all(c.text[-1] in "。！？" for c in chunks), [c.text for c in chunks]
    assert all(c.text[0] not in "。！？，" for c in chunks)
    # a sentence longer than the limit is cut at its commas, the comma ending the piece
    long = "這是一個很長的句子，" * 6 + "最後結束。"
    parts = make_splitter("recursive", chunk_size=25).split(long)
    assert all(len(c.text) <= 25 for c in parts) and all(c.text[-1] in "，。" for c in parts), [c.text for c in parts]


def test_default_separators_match_langchain_on_english():
    """The CJK separators only act where they occur: on English text the defaults give LangChain's chunks."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from agentkit.chunking import DEFAULT_SEPARATORS

    from .conftest import SHARED

    text = (SHARED / "chunking_eval" / "state_of_the_union.md").read_text(encoding="utf-8")[:20000]
    for size, overlap in [(400, 0), (200, 50)]:
        ours = [c.text for c in make_splitter("recursive", chunk_size=size, chunk_overlap=overlap).split(text)]
        theirs = RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap, separators=list(DEFAULT_SEPARATORS), keep_separator="start").split_text(text)
        assert ours == theirs


def test_markdown_hash_lines_in_code_blocks_are_not_headings():
    code = "```bash\n# install the package\npip install agentkit\n# run it\nagentkit --help\n```"
    tilde = "~~~python\n# a comment\nprint('hi')\n~~~"
    text = f"# Guide\n\nIntro text.\n\n{code}\n\n## Usage\n\nCall it.\n\n{tilde}\n\nMore words here."
    chunks = make_splitter("markdown", chunk_size=60).split(text)
    paths = {c.text: c.metadata["headings"] for c in chunks}
    assert all(not c.text.startswith("# install") and not c.text.startswith("# run") and not c.text.startswith("# a comment") for c in chunks), list(paths)
    assert all(h in (["Guide"], ["Guide", "Usage"]) for h in paths.values()), paths
    assert paths["## Usage\n\nCall it."] == ["Guide", "Usage"]
    # the paragraph splitter does not open a section at a commented line either
    para = make_splitter("paragraph", chunk_size=200).split(code)
    assert [c.text for c in para] == [code]


# ---- the fast paths of recursive splitting compute what the step-by-step rules compute ---------------------------


def _merge_step_by_step(pieces, sizes, chunk_size, chunk_overlap):
    """LangChain's ``_merge_splits`` rule, one piece at a time (what ``merge_pieces`` computed before it used
    binary search)."""
    out, window, total = [], [], 0
    for i, size in enumerate(sizes):
        if total + size > chunk_size and window:
            out.append((pieces[window[0]][0], pieces[window[-1]][1]))
            while window and (total > chunk_overlap or total + size > chunk_size):
                total -= sizes[window.pop(0)]
        window.append(i)
        total += size
    if window:
        out.append((pieces[window[0]][0], pieces[window[-1]][1]))
    return out


@settings(max_examples=300, deadline=None)
@given(sizes=st.lists(st.integers(0, 35), max_size=40), chunk_size=st.integers(1, 30), overlap_share=st.floats(0, 0.99))
def test_merge_pieces_matches_the_step_by_step_rule(sizes, chunk_size, overlap_share):
    from agentkit.chunking.base import merge_pieces

    overlap = int(overlap_share * chunk_size)
    pieces = [(i, i + 1) for i in range(len(sizes))]
    assert merge_pieces(pieces, sizes, chunk_size, overlap) == _merge_step_by_step(pieces, sizes, chunk_size, overlap)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=RICH_TEXT, size=st.integers(5, 60), overlap_share=st.floats(0, 0.9))
def test_recursive_fast_path_equals_the_general_path(text, size, overlap_share):
    """Plain text takes the fast path (cuts by str.split, chunks by binary search over piece bounds); a rule
    that allows every cut forces the general path (one position and one piece at a time). Same spans."""
    splitter = make_splitter("recursive", chunk_size=size, chunk_overlap=int(overlap_share * size))
    plain = text.replace("\u0301", "").replace("\u0303", "").replace("\r", "")  # keep inner positions empty when possible
    for t in (text, plain):
        assert splitter.spans(t) == splitter._spans(t, lambda sep, pos: True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=RICH_TEXT, repeat=st.integers(1, 120))
def test_joining_runs_match_the_regex_on_short_and_long_texts(text, repeat):
    """Long texts are classified through the per-code-point table, short ones by the regex itself."""
    from agentkit.chunking.base import _JOINING_RUN, _joining_runs

    long = (text + "x") * repeat * 200  # past the table threshold for most draws
    for t in (text, long):
        assert _joining_runs(t) == [m.span() for m in _JOINING_RUN.finditer(t)]
