"""Model cards beside model/ and adapter/ (read back by huggingface_hub), and the TensorBoard logs of a run."""

from __future__ import annotations

import json

import pytest
import yaml
from huggingface_hub import ModelCard

from crossalign.cards import build_card, results_in
from crossalign.cli import main
from test_train_recipe import _recipe

INTERVAL = {"delta": 5.0, "low": 1.0, "high": 9.0, "n": 100, "resamples": 1000, "confidence": 0.95, "seed": 0}


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, tiny_tokenizer):
    """A 3-step LoRA AFP run on a tiny model whose own README.md says apache-2.0, logging to TensorBoard."""
    from conftest import build_tiny_model

    root = tmp_path_factory.mktemp("cards")
    base = root / "base"
    build_tiny_model("gemma3", tiny_tokenizer, base)
    (base / "README.md").write_text("---\nlicense: apache-2.0\n---\n# a base model\n", encoding="utf-8")
    recipe = _recipe(root, base, model={"name": str(base), "lora": True, "lora_r": 4},
                     training={"report_to": "tensorboard"})
    assert main(["train", str(recipe)]) == 0
    return root / "run", base


def test_training_writes_a_card_that_huggingface_hub_parses(lora_run):
    run, base = lora_run
    model = ModelCard.load(run / "model" / "README.md")
    adapter = ModelCard.load(run / "adapter" / "README.md")
    for card, library in ((model, "transformers"), (adapter, "peft")):
        assert card.data.base_model == str(base)
        assert card.data.library_name == library
        assert card.data.license == "apache-2.0"  # carried from the base model's README
        assert card.data.language == ["en", "de"]
        assert card.data.tags == ["crossalign", "test", "afp", "lora"]
    metrics = json.loads((run / "metrics.json").read_text())
    last = [h for h in metrics["log_history"] if "loss" in h][-1]
    text = model.text
    assert "| optimizer steps | 3 |" in text and f"| tokens seen | {last['tokens_seen']} |" in text
    assert f"lm {last['loss_lm']:.4g}" in text and f"contrastive {last['loss_contrastive']:.4g}" in text
    # the data actually used, per language (8 German pairs; instructions by answer language)
    counts = metrics["data"]
    assert counts["pairs_per_language"] == {"deu_Latn": 8}
    inst = counts["instructions_per_language"]
    assert sum(inst.values()) == 16 and f"| deu_Latn | 8 | {inst['deu_Latn']} |" in text
    assert "learning_rate: 0.001" in text and "report_to:\n  - tensorboard" in text  # the resolved config, as YAML
    # only the card was added to the saved folders
    assert sorted(p.name for p in (run / "adapter").iterdir()) == [
        "README.md", "adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "tokenizer_config.json"]
    assert "README.md" in {p.name for p in (run / "model").iterdir()}
    assert not list(run.glob(".*tmp*"))


def test_the_trainer_logs_every_term_speed_and_memory_to_tensorboard(lora_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run, _ = lora_run
    events = list((run / "runs").rglob("events.out.tfevents.*"))
    assert len(events) == 1
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for tag in ("loss", "loss_lm", "loss_contrastive", "tokens_per_second", "tokens_seen", "peak_memory_gb"):
        assert f"train/{tag}" in tags, tags
    assert [e.step for e in acc.Scalars("train/loss_lm")] == [1, 2, 3]
    logged = [h["tokens_seen"] for h in json.loads((run / "metrics.json").read_text())["log_history"] if "tokens_seen" in h]
    assert [e.value for e in acc.Scalars("train/tokens_seen")] == logged


def _run_files(tmp_path, **config):
    """A run folder written by hand: config.yaml and metrics.json, no model (a card needs only these)."""
    run = tmp_path / "run"
    run.mkdir()
    cfg = {"output_dir": str(run), "recipe": "afp-cpu", "model": {"name": "gemma-3-270m", "lora": False},
           "data": {"languages": ["swh", "est"], "parallel": ["tatoeba_challenge", "xstorycloze", "my.tsv"],
                    "instructions": ["xstorycloze:train", "hub:MBZUAI/Bactrian-X:sw"]},
           "objectives": {"contrastive_weight": 1.0, "layer": 11}, "training": {"max_steps": 60, **config}}
    (run / "config.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    metrics = {"global_step": 60, "wall_seconds": 123.4, "train": {"train_loss": 3.5},
               "data": {"pairs": 10, "sequences": 20, "sequences_too_long": 1,
                        "pairs_per_language": {"swh_Latn": 7, "est_Latn": 3},
                        "instructions_per_language": {"swh_Latn": 4},
                        "dropped_by_contamination_guard": {"tatoeba_challenge:eng-swa": 368,
                                                           "tatoeba_challenge:eng-swa:duplicates": 2}},
               "log_history": [{"loss": 4.0, "loss_lm": 2.0, "loss_contrastive": 1.0, "tokens_per_second": 100.0,
                                "tokens_seen": 500, "peak_memory_gb": 1.5, "step": 30},
                               {"loss": 3.0, "loss_lm": 1.5, "loss_contrastive": 0.75, "tokens_per_second": 300.0,
                                "tokens_seen": 1000, "peak_memory_gb": 1.25, "step": 60}]}
    (run / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    return run


def test_embedded_gemma_card_metadata_datasets_languages_and_figures(tmp_path):
    run = _run_files(tmp_path, hub_token="hf_secret_value")
    card = build_card(run, "model")
    path = tmp_path / "README.md"
    card.save(path)
    data = ModelCard.load(path).data
    assert data.base_model == "google/gemma-3-270m"  # what the embedded GGUF was converted from
    assert data.license == "gemma"
    assert data.language == ["en", "sw", "et"]
    assert data.datasets == ["Helsinki-NLP/tatoeba_mt", "juletxara/xstory_cloze", "MBZUAI/Bactrian-X"]
    assert data.tags == ["crossalign", "afp-cpu", "afp"]
    text = card.text
    assert "hf_secret_value" not in text and "hub_token: <redacted>" in text
    assert "| tatoeba_challenge:eng-swa | 368 | 2 |" in text  # what the contamination guard dropped
    assert "| swh_Latn | 7 | 4 |" in text and "| est_Latn | 3 | 0 |" in text
    assert "| tokens/s (mean of logged steps) | 200 |" in text and "| peak memory (GB) | 1.5 |" in text
    assert "final loss per term | lm 1.5, contrastive 0.75 |" in text and "| wall time (s) | 123.4 |" in text


def test_results_in_the_run_folder_reach_the_card_with_their_intervals(tmp_path):
    run = _run_files(tmp_path)
    assert "None yet" in build_card(run, "model").text
    eval_results = {"run": {"model": str(run / "model")}, "cells": {"c": {}}, "summary": [
        {"task": "xcopa", "split": "test", "protocol": "cross", "shots": 0, "metric": "acc",
         "langs": {"swh": {"mean": 0.55, "std": 0.0, "seeds": 1, "n": 100}}, "avg": 0.55}]}
    (run / "eval.json").write_text(json.dumps(eval_results), encoding="utf-8")
    block = {"task": "xcopa", "split": "test", "protocol": "cross", "shots": 0, "metric": "acc", "units": "points (x100)",
             "langs": {"swh": {"a": 50.0, "b": 55.0, "delta": 5.0, "interval": INTERVAL}},
             "average": {"a": 50.0, "b": 55.0, "delta": 5.0, "interval": INTERVAL}, "note": None}
    delta = {"a": {"path": "base.json", "model": "gemma-3-270m"}, "b": {"path": "eval.json", "model": "afp"},
             "delta": "B - A", "marker": "* = the paired 95% bootstrap interval excludes 0", "blocks": [block]}
    (run / "delta.json").write_text(json.dumps(delta), encoding="utf-8")
    (run / "analysis").mkdir()
    (run / "analysis" / "analysis.md").write_text("# Alignment analysis: x\n\nP@1 at layer 11: 42.0\n", encoding="utf-8")
    (run / "notes.json").write_text("[1, 2]", encoding="utf-8")  # not a crossalign result: left out
    assert [p.name for p in results_in(run)] == ["analysis", "delta.json", "eval.json"]
    text = build_card(run, "model").text
    assert "| acc | 55.0 | 55.0 |" in text  # the eval summary, in percent
    assert "| swh | 50.0 | 55.0 | +5.0 [+1.0, +9.0]* |" in text  # the paired interval of the comparison
    assert "#### xcopa · cross · 0-shot · test · acc" in text  # rendered by `crossalign compare`'s own renderer
    assert "#### Alignment analysis: x" in text and "P@1 at layer 11: 42.0" in text
    assert "None yet" not in text and "notes.json" not in text


def test_a_later_stage_card_lists_every_stage_and_its_adapter_base(tmp_path):
    run = _run_files(tmp_path)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["model"]["lora"] = True
    cfg["stages"] = [{"name": "stage1"}, {"name": "stage2", "data": {"cross_lingual_p": 0.0}}]
    (run / "config.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    metrics = json.loads((run / "metrics.json").read_text())
    for stage, steps in (("stage1", 60), ("stage2", 7)):
        (run / stage).mkdir()
        (run / stage / "metrics.json").write_text(json.dumps({**metrics, "global_step": steps}), encoding="utf-8")
    card = build_card(run / "stage2", "adapter")
    assert card.data.base_model == "google/gemma-3-270m" and card.data.library_name == "peft"
    text = card.text
    assert "### Stage stage1" in text and "### Stage stage2" in text and "stages stage1 -> stage2" in text
    assert "| optimizer steps | 60 |" in text and "| optimizer steps | 7 |" in text
    assert "applies to the merged model of stage stage1" in text
    first = build_card(run / "stage1", "model").text
    assert "### Stage stage2" not in first  # stage 1's model did not go through stage 2


def test_license_of_a_hub_base_is_read_from_the_local_hub_cache_first(monkeypatch, tmp_path):
    import huggingface_hub

    from crossalign.cards import _hub_license, base_license

    _hub_license.cache_clear()
    readme = tmp_path / "README.md"
    readme.write_text("---\nlicense: apache-2.0\n---\n# Qwen\n", encoding="utf-8")
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *a, **k: str(readme))
    monkeypatch.setattr(huggingface_hub, "HfApi", None)  # no request may be made
    assert base_license("Qwen/Qwen2.5-0.5B") == ("apache-2.0", "the Hub card of Qwen/Qwen2.5-0.5B")
    _hub_license.cache_clear()


def test_license_of_a_hub_base_comes_from_its_hub_card_or_is_reported_missing(monkeypatch):
    import huggingface_hub

    from crossalign.cards import base_license

    from crossalign.cards import _hub_license

    _hub_license.cache_clear()
    asked = []

    class Api:
        def model_info(self, name, timeout=None):
            asked.append(name)
            if name == "meta-llama/Llama-3.2-1B":
                return type("Info", (), {"card_data": huggingface_hub.ModelCardData(license="llama3.2")})()
            raise OSError("unreachable")

    monkeypatch.setattr(huggingface_hub, "HfApi", Api)
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *a, **k: None)
    assert base_license("meta-llama/Llama-3.2-1B") == ("llama3.2", "the Hub card of meta-llama/Llama-3.2-1B")
    assert base_license("someone/offline-model")[0] is None
    assert base_license("someone/offline-model")[0] is None  # a LoRA stage's second card: no second request
    assert asked == ["meta-llama/Llama-3.2-1B", "someone/offline-model"]
    _hub_license.cache_clear()
