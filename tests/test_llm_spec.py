import pytest

from agentkit.errors import ConfigError, ModelNotFoundError
from agentkit.llm import GenerationParams, LlamaCppLLM, OllamaLLM, OpenAICompatLLM, load_llm, parse_spec
from agentkit.llm.reasoning import split_reasoning


def test_parse_spec_parts():
    s = parse_spec("openai://127.0.0.1:8000/v1?n_ctx=8192#qwen")
    assert (s.scheme, s.target, s.options, s.fragment) == ("openai", "127.0.0.1:8000/v1", {"n_ctx": "8192"}, "qwen")


@pytest.mark.parametrize("spec", ["llama-cpp", "nonsense", "://x", "llama-cpp://"])
def test_malformed_spec_is_config_error(spec):
    with pytest.raises(ConfigError) as e:
        load_llm(spec)
    assert "llama-cpp://default" in str(e.value)  # the error shows how to write it


def test_unknown_backend_lists_known_ones():
    with pytest.raises(ConfigError) as e:
        load_llm("gpt5://whatever")
    assert "llama-cpp" in str(e.value) and "ollama" in str(e.value) and "openai" in str(e.value)


def test_specs_pick_backends(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert isinstance(load_llm(f"llama-cpp://{gguf}?n_ctx=1024"), LlamaCppLLM)
    assert load_llm(f"llama-cpp://{gguf}?n_ctx=1024").context_window == 1024
    ollama = load_llm("ollama://llama3.2:3b?host=http://127.0.0.1:1")
    assert isinstance(ollama, OllamaLLM) and ollama.model == "llama3.2:3b" and ollama.host == "http://127.0.0.1:1"
    openai = load_llm("openai://127.0.0.1:8000/v1#my-model")
    assert isinstance(openai, OpenAICompatLLM) and openai.base_url == "http://127.0.0.1:8000/v1" and openai.model == "my-model"


def test_default_spec_from_env(monkeypatch):
    monkeypatch.setenv("AGENTKIT_LLM", "ollama://qwen3:0.6b")
    assert load_llm().spec == "ollama://qwen3:0.6b"
    monkeypatch.delenv("AGENTKIT_LLM")
    assert load_llm().spec == "llama-cpp://default"


def test_missing_gguf_names_the_path():
    with pytest.raises(ModelNotFoundError) as e:
        load_llm("llama-cpp:///nowhere/model.gguf")
    assert "/nowhere/model.gguf" in str(e.value)


def test_bad_llama_option():
    with pytest.raises(ConfigError):
        load_llm("llama-cpp://default?n_ctx=lots")
    with pytest.raises(ConfigError):
        load_llm("llama-cpp://default?gpu=yes")


@pytest.mark.parametrize("bad", [{"temperature": -1}, {"top_p": 0}, {"max_tokens": 0}, {"timeout": 0}, {"repeat_penalty": 0}])
def test_params_validate(bad):
    with pytest.raises(ConfigError):
        GenerationParams(**bad)


def test_params_round_trip_and_reject_unknown():
    p = GenerationParams(temperature=0.3, stop=("\n\n",), seed=7)
    assert GenerationParams.from_dict(p.to_dict()) == p
    assert GenerationParams(stop="END").stop == ("END",)  # a bare string is one stop sequence
    with pytest.raises(ConfigError):
        GenerationParams.from_dict({"temprature": 0.1})


@pytest.mark.parametrize(
    "raw, text, reasoning",
    [
        ("<think>step 1</think>The answer is 5.", "The answer is 5.", "step 1"),
        ("A <THINK>x</THINK> B", "A  B", "x"),
        ("<think>cut off while thinking", "", "cut off while thinking"),
        ("opened in the prompt</think>\n42", "42", "opened in the prompt"),
        ("plain", "plain", ""),
    ],
)
def test_split_reasoning(raw, text, reasoning):
    assert split_reasoning(raw) == (text, reasoning)
