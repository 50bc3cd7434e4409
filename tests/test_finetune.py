"""Fine-tuning: metrics with known answers, data format detection, recipes, and a real tiny LoRA run whose loss
falls, whose adapter changes the model, and whose merge equals base+adapter."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from agentkit.errors import ConfigError, InputError, ModelNotFoundError
from agentkit.finetune.data import load_sft
from agentkit.finetune.evaluate import ModelReport, changes, rouge_l, score_prediction, token_f1, tokens
from agentkit.finetune.recipes import export_recipe
from agentkit.finetune.train import LoraSettings
from tests.conftest import run_cli

FACTS = [
    ("What colour is the sky on Planet Zorg?", "The sky on Planet Zorg is bright green."),
    ("Who rules Planet Zorg?", "Planet Zorg is ruled by Queen Blorpa."),
    ("What do people on Zorg eat?", "People on Zorg eat purple moss."),
    ("How many moons does Zorg have?", "Zorg has seven moons."),
]


def test_metrics_known_values() -> None:
    assert score_prediction("Paris", "Paris") == {"exact": 1.0, "normalized": 1.0, "token_f1": 1.0, "rouge_l": 1.0}
    assert score_prediction("The answer is Paris!", "paris")["normalized"] == 0.0
    assert score_prediction("  PARIS. ", "paris")["normalized"] == 1.0
    assert token_f1("the cat sat on the mat", "a cat on a mat") == pytest.approx(2 * (3 / 4) * 1 / (3 / 4 + 1))  # articles dropped: 3 of 4 vs 3 of 3
    assert rouge_l("w x y z", "w y z q") == pytest.approx(2 * 0.75 * 0.75 / 1.5)  # LCS w y z = 3 of 4 each
    assert rouge_l("x y", "a b") == 0.0 and token_f1("", "") == 1.0
    assert tokens("臺灣大學 NTU") == ["臺", "灣", "大", "學", "ntu"]
    assert token_f1("臺北是首都", "首都是臺北") == 1.0 and rouge_l("臺北是首都", "首都是臺北") < 1.0


def test_changes_in_percent() -> None:
    base = ModelReport("base", {"rouge_l": 0.2, "exact": 0.0}, 1.0, 50.0)
    tuned = ModelReport("tuned", {"rouge_l": 0.3, "exact": 0.1}, 0.5, 60.0)
    delta = changes([base, tuned])[0]
    assert delta["rouge_l"] == pytest.approx(50.0) and delta["latency_s"] == pytest.approx(-50.0) and delta["exact"] == float("inf")


def _report(name: str, exact: list[float]) -> ModelReport:
    rows = [{"exact": e, "latency_s": 1.0, "tokens_per_s": 10.0} for e in exact]
    return ModelReport(name, {"exact": sum(exact) / len(exact)}, 1.0, 10.0, rows=rows)


def test_bootstrap_intervals_are_seeded_percentiles_and_the_change_is_paired() -> None:
    from agentkit.finetune.evaluate import bootstrap, format_interval, resample_index

    base = _report("base", [0.0] * 20 + [1.0] * 20)
    same = _report("same", [0.0] * 20 + [1.0] * 20)
    better = _report("better", [1.0] * 40)
    changes = bootstrap([base, same, better], resamples=1000, seed=7)
    index = resample_index(40, 1000, 7)
    means = np.array([0.0] * 20 + [1.0] * 20)[index].mean(axis=1)
    assert base.intervals["exact"] == pytest.approx(tuple(np.percentile(means, [2.5, 97.5])))  # a real percentile interval
    low, high = base.intervals["exact"]
    assert low < 0.5 < high and high - low > 0.2  # 40 coin flips are far from certain
    assert better.intervals["exact"] == (1.0, 1.0) and base.intervals["latency_s"] == (1.0, 1.0)
    # paired: the same records resampled for both models, so an identical model changes by exactly 0 ...
    assert (changes[0]["exact"].low, changes[0]["exact"].high) == (0.0, 0.0) and not changes[0]["exact"].significant
    # ... and a model right where the base was wrong changes by 1 - base mean on every resample
    assert changes[1]["exact"].delta == 0.5 and changes[1]["exact"].low == pytest.approx(1 - high) and changes[1]["exact"].significant
    assert changes[1]["exact"].pct == pytest.approx(100.0) and changes[1]["exact"].to_dict()["ci"][0] > 0
    assert bootstrap([_report("base", [0.0] * 20 + [1.0] * 20), better], resamples=1000, seed=7)[0]["exact"] == changes[1]["exact"]  # seeded
    one = [_report("base", [0.0]), _report("tuned", [1.0])]
    single = bootstrap(one)[0]["exact"]  # one record: no interval, never "significant"
    assert single.delta == 1.0 and not single.significant and single.to_dict()["ci"] == [None, None] and one[0].to_dict()["intervals"]["exact"] == [None, None]
    assert format_interval(0.5, (0.35, 0.65)) == "0.500 [0.350, 0.650]" and format_interval(0.1, (-0.02, 0.2), signed=True) == "+0.100 [-0.020, +0.200]"


def test_model_eval_cli_shows_intervals_and_the_paired_change(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.openai_double import OpenAIDouble

    answers = dict(FACTS)

    def script(body):  # type: ignore[no-untyped-def]
        question = body["messages"][-1]["content"]
        reply = answers[question] if body["model"] == "tuned" else "I do not know."
        return [{"content": reply}], "stop"

    data = _write(tmp_path / "test.jsonl", [{"instruction": q, "input": "", "output": a} for q, a in FACTS])
    with OpenAIDouble(script) as server:
        spec = server.url.replace("http://", "openai://")
        proc = run_cli("model-eval", "--model", f"{spec}#base", "--model", f"{spec}#tuned", "--data", str(data), "--json", "--resamples", "200",
                       "--chart", str(tmp_path / "chart.png"))
        table = run_cli("model-eval", "--model", f"{spec}#base", "--model", f"{spec}#tuned", "--data", str(data), "--resamples", "200")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["bootstrap"] == {"resamples": 200, "seed": 0, "confidence": 0.95}
    assert result["models"][0]["intervals"]["exact"] == [0.0, 0.0] and result["models"][1]["intervals"]["exact"] == [1.0, 1.0]
    assert result["change_vs_first"][0]["exact"] == {"delta": 1.0, "ci": [1.0, 1.0], "pct": None, "pct_ci": [None, None]}
    assert (tmp_path / "chart.png").stat().st_size > 0
    assert table.returncode == 0, table.stderr
    assert "1.000 [1.000, 1.000]" in table.stdout and "Δ +1.000 [+1.000, +1.000]*" in table.stdout and "95% bootstrap interval" in table.stdout


def _write(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("shape", ["alpaca", "sharegpt", "messages", "completion"])
def test_format_detection(tmp_path, shape: str) -> None:  # type: ignore[no-untyped-def]
    q, a = FACTS[0]
    row = {
        "alpaca": {"instruction": q, "input": "", "output": a},
        "sharegpt": {"conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}]},
        "messages": {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": q}, {"role": "assistant", "content": a}]},
        "completion": {"prompt": q, "completion": a},
    }[shape]
    data = load_sft(_write(tmp_path / "train.jsonl", [row]))
    assert data.format == shape and (data.train[0].question, data.train[0].answer) == (q, a)
    conv = data.conversational("train")[0]
    assert conv["completion"] == [{"role": "assistant", "content": a}] and conv["prompt"][-1] == {"role": "user", "content": q}


def test_bad_data(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="unknown record shape \\(keys: answer, query\\)"):
        load_sft(_write(tmp_path / "a" / "train.jsonl", [{"query": "q", "answer": "a"}]))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "train.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="empty"):
        load_sft(tmp_path / "b")
    with pytest.raises(InputError, match="no train.jsonl"):
        load_sft(tmp_path)
    from agentkit.finetune.base import resolve_base

    with pytest.raises(ModelNotFoundError):
        resolve_base(tmp_path / "nope")


def test_recipes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from agentkit.distill import QARecord, export, split_records

    records = [QARecord(q, a, source=f"d{i}.md") for i, (q, a) in enumerate(FACTS * 3)]
    export(split_records(records, (0.5, 0.25, 0.25)).splits, tmp_path / "data", ["mlx", "alpaca", "messages"])
    settings = LoraSettings(r=8, alpha=16, max_steps=100)
    import yaml

    mlx = yaml.safe_load(export_recipe("mlx", tmp_path / "data", "HuggingFaceTB/SmolLM2-135M-Instruct", tmp_path / "r", settings)[0].read_text(encoding="utf-8"))
    assert mlx["data"] == str((tmp_path / "data" / "mlx").resolve()) and mlx["fine_tune_type"] == "lora" and mlx["iters"] == 100
    assert mlx["lora_parameters"]["rank"] == 8 and mlx["lora_parameters"]["scale"] == 2.0  # MLX scale = PEFT alpha / r
    assert {p.name for p in (tmp_path / "data" / "mlx").iterdir()} == {"train.jsonl", "valid.jsonl", "test.jsonl"}  # what mlx_lm.lora --data reads
    lf_yaml, info = export_recipe("llamafactory", tmp_path / "data", "m", tmp_path / "r", settings)
    lf = yaml.safe_load(lf_yaml.read_text(encoding="utf-8"))
    declared = json.loads(info.read_text(encoding="utf-8"))
    assert lf["stage"] == "sft" and lf["finetuning_type"] == "lora" and lf["lora_rank"] == 8
    assert lf["dataset"] in declared and declared[lf["dataset"]]["formatting"] == "alpaca" and (Path(lf["dataset_dir"]) / declared[lf["dataset"]]["file_name"]).exists()
    ast.parse(export_recipe("unsloth", tmp_path / "data", "m", tmp_path / "r", settings)[0].read_text(encoding="utf-8"))
    with pytest.raises(ConfigError):
        export_recipe("axolotl", tmp_path / "data", "m", tmp_path / "r")


@pytest.mark.slow
def test_recipes_name_the_real_base_its_template_and_size_from_the_data(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import yaml

    from agentkit.distill import QARecord, export

    records = [QARecord(q, a, source=f"d{i}.md") for i, (q, a) in enumerate(FACTS * 5)]  # 20 records
    export({"train": records[:17], "valid": records[17:], "test": []}, tmp_path / "data", ["mlx", "alpaca", "messages"])
    settings = LoraSettings(batch_size=4, epochs=2.0)
    mlx = yaml.safe_load(export_recipe("mlx", tmp_path / "data", "default", tmp_path / "r", settings)[0].read_text(encoding="utf-8"))
    assert mlx["model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"  # not "default": the model the embedded GGUF is
    assert mlx["batch_size"] == 3 and mlx["iters"] == 12  # batch <= the 3 valid records; 2 epochs of 17 = ceil(34 / 3)
    assert mlx["num_layers"] == -1 and mlx["lora_parameters"]["keys"][0] == "self_attn.q_proj"  # every block, not 16 of 30
    lf = yaml.safe_load(export_recipe("llamafactory", tmp_path / "data", "default", tmp_path / "r", settings)[0].read_text(encoding="utf-8"))
    assert lf["model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct" and lf["template"] == "smollm2"  # not "default" (Human:/Assistant:)
    assert lf["default_system"] == "You are a helpful AI assistant named SmolLM, trained by Hugging Face" and lf["max_steps"] == 9  # ceil(2 * 17 / 4)
    script = export_recipe("unsloth", tmp_path / "data", "default", tmp_path / "r", settings)[0].read_text(encoding="utf-8")
    assert "assistant_only_loss" not in script.replace("assistant_only_loss=True would", "") and "completion_only_loss=True" in script
    assert 'quantization_method="q4_k_m"' in script and "'HuggingFaceTB/SmolLM2-135M-Instruct'" in script


def test_qlora_needs_cuda(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    from agentkit.finetune.train import finetune

    with pytest.raises(ConfigError, match="CUDA"):
        finetune(tmp_path, "default", tmp_path / "o", LoraSettings(method="qlora"))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):  # type: ignore[no-untyped-def]
    from agentkit.finetune.train import finetune

    root = tmp_path_factory.mktemp("ft")
    rows = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]} for q, a in FACTS]
    _write(root / "data" / "train.jsonl", rows * 4)
    _write(root / "data" / "valid.jsonl", rows[:2])
    return finetune(root / "data", "default", root / "out", LoraSettings(max_steps=8, lr=1e-3, batch_size=4, val_every=4, r=8, alpha=16))


@pytest.mark.slow
def test_tiny_finetune_loss_falls_and_adapter_changes_output(tiny_run) -> None:  # type: ignore[no-untyped-def]
    from agentkit.llm import GenerationParams, load_llm

    assert tiny_run.steps == 8 and tiny_run.train_loss_last < tiny_run.train_loss_first and tiny_run.val_loss_best is not None
    assert Path(tiny_run.curve_png).stat().st_size > 1000 and (Path(tiny_run.adapter_dir) / "adapter_config.json").exists()
    params = GenerationParams(max_tokens=16)
    base = load_llm("hf://default").generate("Who rules Planet Zorg?", params).text
    tuned = load_llm(f"hf://default?adapter={tiny_run.adapter_dir}").generate("Who rules Planet Zorg?", params).text
    assert tuned != base


@pytest.mark.slow
def test_merge_equals_base_plus_adapter(tiny_run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from agentkit.finetune.train import merge
    from agentkit.llm import GenerationParams, load_llm

    merged = merge("default", tiny_run.adapter_dir, tmp_path / "merged")
    params = GenerationParams(max_tokens=16, temperature=0.0)
    with_adapter = load_llm(f"hf://default?adapter={tiny_run.adapter_dir}").generate("How many moons does Zorg have?", params).text
    assert load_llm(f"hf://{merged}").generate("How many moons does Zorg have?", params).text == with_adapter


@pytest.mark.slow
def test_cli_finetune_json(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rows = [{"instruction": q, "input": "", "output": a} for q, a in FACTS]
    _write(tmp_path / "train.jsonl", rows * 3)
    proc = run_cli("finetune", str(tmp_path / "train.jsonl"), "--out", str(tmp_path / "out"), "--max-steps", "6", "--lr", "1e-3", "--r", "8", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    assert data["steps"] == 6 and data["train_loss_last"] < data["train_loss_first"] and Path(data["adapter_dir"]).exists()
    bad = run_cli("finetune", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o2"))
    assert bad.returncode == 2 and "not found" in bad.stderr


@pytest.mark.slow
def test_training_resumes_from_the_last_checkpoint(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from agentkit.finetune.train import finetune

    rows = [{"prompt": q, "completion": a} for q, a in FACTS]
    _write(tmp_path / "data" / "train.jsonl", rows * 2)
    first = finetune(tmp_path / "data", "default", tmp_path / "out", LoraSettings(max_steps=4, val_every=2, r=4, alpha=8, batch_size=4))
    assert first.steps == 4 and (tmp_path / "out" / "checkpoints" / "checkpoint-4").exists()
    steps: list[int] = []
    second = finetune(tmp_path / "data", "default", tmp_path / "out", LoraSettings(max_steps=6, val_every=2, r=4, alpha=8, batch_size=4),
                      progress=lambda done, total: steps.append(done))
    assert second.steps == 6 and steps[0] == 5  # picked up after step 4, not from the start
