"""Plugins: registries filled from the ``agentkit.plugins`` entry points, built-ins by the same path, and a real
out-of-tree plugin package installed with pip and used from the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentkit.errors import ConfigError, PluginError
from agentkit.plugins import KINDS, Plugin, Registrar, Registry, load_plugins, registry
from tests.conftest import ROOT

PLUGIN_SRC = ROOT / "tests" / "fixtures" / "echo_plugin"


def test_builtins_register_through_the_entry_point():
    import importlib.metadata

    points = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="agentkit.plugins")}
    assert points.get("agentkit") == "agentkit.builtins"
    regs = load_plugins()
    assert set(regs) == set(KINDS)
    assert {"llama-cpp", "ollama", "openai", "hf"} <= set(regs["llm"].names())
    assert {"chroma", "chroma+http", "ragflow"} <= set(regs["knowledge_base"].names())
    assert {"naive", "rag", "rag-agent"} <= set(regs["pipeline"].names())


def test_duplicate_names_are_errors_not_overwrites():
    regs = {kind: Registry(kind) for kind in KINDS}
    Registrar(regs, "one").add("llm", "x", "json:loads")
    with pytest.raises(PluginError, match="registered twice.*one.*two"):
        Registrar(regs, "two").add("llm", "x", "json:dumps")


def test_unknown_kind_and_name():
    with pytest.raises(PluginError):
        Registrar({}, "p").add("nope", "x", "json:loads")
    with pytest.raises(ConfigError) as e:
        registry("llm").get("gpt5")
    assert "llama-cpp" in e.value.hint


def test_missing_extra_is_one_line_naming_it():
    from agentkit.errors import MissingExtraError

    plugin = Plugin("llm", "ghost", "agentkit_no_such_module:X", extra="web", source="test")
    with pytest.raises(MissingExtraError) as e:
        plugin.load()
    assert "'web' extra" in e.value.message and "pip install 'agentkit-rag[web]'" in e.value.hint


def test_named_components_reject_unknown_keywords():
    with pytest.raises(ConfigError, match="chunk_sise"):
        registry("splitter").build("recursive", chunk_sise=10)


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pip-installs the fixture package into a private folder (its dist-info carries the entry point)."""
    target = tmp_path_factory.mktemp("plugin-site")
    build = tmp_path_factory.mktemp("plugin-build")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target), str(PLUGIN_SRC)],
                   check=True, capture_output=True, text=True, timeout=300, cwd=build)
    assert list(target.glob("agentkit_echo_plugin-*.dist-info/entry_points.txt"))
    return target


def _cli(site: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH", "")])), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "agentkit.cli", *args], capture_output=True, text=True, timeout=300, env=env, cwd=cwd or ROOT)


def test_out_of_tree_plugin_from_the_cli(installed_plugin: Path, tmp_path: Path):
    listed = _cli(installed_plugin, "plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {(p["kind"], p["name"]): p for p in json.loads(listed.stdout)["plugins"]}
    assert rows[("llm", "echo")]["source"] == "agentkit-echo-plugin" and rows[("llm", "llama-cpp")]["source"] == "agentkit"

    # Its LLM backend answers through a built-in pipeline, with its typed option.
    asked = _cli(installed_plugin, "ask", "What is a plugin?", "--llm", "echo://?prefix=ECHO", "--json")
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["answer"] == "ECHO What is a plugin?"
    bad = _cli(installed_plugin, "ask", "q", "--llm", "echo://?prefx=1")
    assert bad.returncode == 2 and "prefx" in bad.stderr and "prefix" in bad.stderr and "Traceback" not in bad.stderr

    # Its search backend feeds the web source of a pipeline (no network: the backend returns page text itself).
    searched = _cli(installed_plugin, "search", "plugins", "--backend", "static://docs.test", "--n", "2", "--json", "--no-cache")
    assert searched.returncode == 0, searched.stderr
    assert [r["url"] for r in json.loads(searched.stdout)["results"]] == ["https://docs.test/0", "https://docs.test/1"]
    rag = _cli(installed_plugin, "ask", "plugins", "--llm", "echo://", "--source", "web", "--search-backend", "static://docs.test", "--json", "--no-cache")
    assert rag.returncode == 0, rag.stderr
    assert json.loads(rag.stdout)["sources"][0]["source"].startswith("https://docs.test/")

    # Its export format converts a dataset.
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "Q1?"}, {"role": "assistant", "content": "A1."}]}) + "\n", encoding="utf-8")
    converted = _cli(installed_plugin, "dataset", "convert", str(data), "--to", "csvqa", "--out", str(tmp_path / "out.csv"))
    assert converted.returncode == 0, converted.stderr
    assert (tmp_path / "out.csv").read_text(encoding="utf-8") == "Q1?,A1.\n"
