"""The one spec grammar and its typed options (agentkit.spec)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentkit.errors import ConfigError
from agentkit.spec import Spec, parse_options, parse_spec


@dataclass(frozen=True)
class Opts:
    n: int = 1
    ratio: float = 0.5
    flag: bool = False
    mode: Literal["a", "b"] = "a"
    host: str | None = None
    names: tuple[str, ...] = ()


def opts(text: str) -> Opts:
    parsed = parse_options(parse_spec(text), Opts, "test thing")
    assert parsed is not None
    return parsed


def test_parts_of_a_spec():
    s = parse_spec("openai://127.0.0.1:8000/v1?n_ctx=8192#qwen2.5:7b")
    assert (s.scheme, s.target, dict(s.options), s.fragment) == ("openai", "127.0.0.1:8000/v1", {"n_ctx": "8192"}, "qwen2.5:7b")
    assert parse_spec("llama-cpp:///abs/m.gguf").target == "/abs/m.gguf"
    assert parse_spec("LLAMA-CPP://default").scheme == "llama-cpp"


def test_bare_name_is_scheme_without_target():
    assert parse_spec("google") == Spec("google", "", {}, "", "google")
    s = parse_spec("google?lang=zh-TW")
    assert (s.scheme, s.target, dict(s.options)) == ("google", "", {"lang": "zh-TW"})


@pytest.mark.parametrize("bad", ["", "   ", "://x", "a b://x", "./models/x.gguf", "hf:/path", "x?a=1&&b"])
def test_malformed_specs_are_one_config_error(bad):
    with pytest.raises(ConfigError):
        parse_spec(bad, "LLM", "llama-cpp://default")


def test_options_are_typed():
    o = opts("x://t?n=3&ratio=0.25&flag=yes&mode=b&host=h:1&names=a,b")
    assert o == Opts(3, 0.25, True, "b", "h:1", ("a", "b"))
    assert opts("x://t?host=none").host is None


@pytest.mark.parametrize("text, fragment", [
    ("x://t?n=three", "not an integer"),
    ("x://t?ratio=nan", "finite"),
    ("x://t?ratio=inf", "finite"),
    ("x://t?flag=maybe", "yes/no"),
    ("x://t?mode=c", "not one of a, b"),
])
def test_bad_values_name_the_option(text, fragment):
    with pytest.raises(ConfigError, match=fragment):
        opts(text)


def test_unknown_options_list_the_valid_ones():
    with pytest.raises(ConfigError) as e:
        opts("x://t?nn=1")
    assert "nn" in e.value.message and "n: int = 1" in e.value.hint and "mode: a|b" in e.value.hint


def test_no_options_declared_means_none_accepted():
    assert parse_options(parse_spec("x://t"), None, "thing") is None
    with pytest.raises(ConfigError, match="takes no options"):
        parse_options(parse_spec("x://t?a=1"), None, "thing")


@given(st.from_regex(r"[a-z][a-z0-9+\-]{0,8}", fullmatch=True), st.from_regex(r"[A-Za-z0-9_./:\-]{0,20}", fullmatch=True),
       st.dictionaries(st.from_regex(r"[a-z_]{1,6}", fullmatch=True), st.from_regex(r"[A-Za-z0-9_.\-]{0,6}", fullmatch=True), max_size=3),
       st.from_regex(r"[A-Za-z0-9_.:\-]{0,10}", fullmatch=True))
def test_render_round_trips(scheme, target, options, fragment):
    spec = Spec(scheme, target, options, fragment)
    again = parse_spec(spec.render())
    assert (again.scheme, again.target, dict(again.options), again.fragment) == (scheme, target, options, fragment)


def test_old_forms_still_work_with_a_note(tmp_path):
    from agentkit.chunking.tokenizers import get_tokenizer
    from agentkit.retrievers.open import open_knowledge_base
    from agentkit.tools.search import LocalSearch, load_search

    (tmp_path / "p.txt").write_text("hello world", encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        backend = load_search(f"local:{tmp_path}")
        kb = open_knowledge_base("http://127.0.0.1:9/coll")
    assert isinstance(backend, LocalSearch) and kb.is_server and kb.collection_name == "coll"
    notes = [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]
    assert any(f"local://{tmp_path}" in n for n in notes) and any("chroma+http://127.0.0.1:9/coll" in n for n in notes)
    assert get_tokenizer("cl100k").count("hello world") == 2
