"""`crossalign train` end to end on a tiny model and tiny local data: AFP (one stage) and AlignX (two stages)."""

import json

import pytest
import yaml
from transformers import AutoModelForCausalLM

from crossalign.cli import main

PAIRS = [
    ("The cat sat on the mat.", "Die Katze sass auf der Matte."),
    ("I like tea.", "Ich mag Tee."),
    ("Where is the station?", "Wo ist der Bahnhof?"),
    ("The weather is nice today.", "Das Wetter ist heute schön."),
    ("He reads a book.", "Er liest ein Buch."),
    ("We eat bread.", "Wir essen Brot."),
    ("She sings well.", "Sie singt gut."),
    ("The dog runs fast.", "Der Hund rennt schnell."),
]


def _write_data(tmp_path):
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("eng_Latn\tdeu_Latn\n" + "".join(f"{a}\t{b}\n" for a, b in PAIRS), encoding="utf-8")
    inst = tmp_path / "instructions.jsonl"
    rows = []
    for i, (en, de) in enumerate(PAIRS):
        rows.append({"id": str(i), "lang": "en", "instruction": "Repeat the sentence.", "input": en, "output": en})
        rows.append({"id": str(i), "lang": "de", "instruction": "Wiederhole den Satz.", "input": de, "output": de})
    inst.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return tsv, inst


def _recipe(tmp_path, model_dir, **sections):
    tsv, inst = _write_data(tmp_path)
    cfg = {
        "recipe": "test", "output_dir": str(tmp_path / "run"), "seed": 1,
        "model": {"name": str(model_dir)},
        "data": {"languages": ["deu"], "parallel": [str(tsv)], "instructions": [str(inst)], "exclude_eval_sets": [],
                 "max_pairs_per_language": None, "max_length": 256},
        "objectives": {"lm_weight": 1.5, "contrastive_weight": 1.0, "layer": 1, "pooling": "mean"},
        "training": {"max_steps": 3, "per_device_train_batch_size": 4, "learning_rate": 1e-3, "save_steps": 2,
                     "logging_steps": 1, "disable_tqdm": True},
    }
    for k, v in sections.items():
        cfg[k] = {**cfg.get(k, {}), **v} if isinstance(v, dict) else v
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def test_afp_tiny_run_saves_a_plain_transformers_model(tmp_path, tiny_gemma_dir):
    recipe = _recipe(tmp_path, tiny_gemma_dir)
    assert main(["train", str(recipe)]) == 0
    run = tmp_path / "run"
    assert (run / "config.yaml").is_file() and (run / "checkpoint-2").is_dir()
    metrics = json.loads((run / "metrics.json").read_text())
    logged = [h for h in metrics["log_history"] if "loss" in h]
    assert logged and all("loss_contrastive" in h and "loss_lm" in h and "tokens_per_second" in h for h in logged)
    model = AutoModelForCausalLM.from_pretrained(run / "model")
    base = AutoModelForCausalLM.from_pretrained(tiny_gemma_dir)
    changed = [n for n, p in model.state_dict().items() if not p.equal(base.state_dict()[n])]
    assert changed, "training did not change any weight"
    # A second run into the same folder is refused and leaves it untouched.
    before = sorted(p.name for p in run.iterdir())
    assert main(["train", str(recipe)]) == 2
    assert sorted(p.name for p in run.iterdir()) == before
    assert main(["train", str(recipe), "--resume"]) == 0  # finished stage: nothing to redo


def test_alignx_two_stages_with_lora(tmp_path, tiny_gemma_dir):
    stages = [
        {"name": "stage1", "data": {"instructions": [], "translation_template": "alignx"},
         "objectives": {"lm_weight": 1.0, "mask_prompt": False, "contrastive_weight": 0.3, "contrastive_input": "spans",
                        "temperature": 0.1, "language_matching_weight": 0.4}},
        {"name": "stage2", "data": {"cross_lingual_p": 0.0},
         "objectives": {"lm_weight": 1.0, "contrastive_weight": 0.0, "language_matching_weight": 0.0}},
    ]
    recipe = _recipe(tmp_path, tiny_gemma_dir, model={"name": str(tiny_gemma_dir), "lora": True, "lora_r": 4}, stages=stages)
    assert main(["train", str(recipe)]) == 0
    run = tmp_path / "run"
    for stage in ("stage1", "stage2"):
        assert (run / stage / "model" / "config.json").is_file()
        assert (run / stage / "adapter" / "adapter_config.json").is_file()
    m1 = json.loads((run / "stage1" / "metrics.json").read_text())
    assert any("loss_language_matching" in h for h in m1["log_history"])
    # the head is a checkpoint artefact, never part of the saved LM
    assert (run / "stage1" / "checkpoint-2" / "alignment_heads.safetensors").is_file()
    assert not any("language_matching" in k for k in AutoModelForCausalLM.from_pretrained(run / "stage1" / "model").state_dict())


def test_missing_key_and_bad_layer_exit_2(tmp_path, tiny_gemma_dir, capsys):
    recipe = _recipe(tmp_path, tiny_gemma_dir)
    assert main(["train", str(recipe), "objectives.layer=7"]) == 2
    assert "outside the model" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("recipe: x\n", encoding="utf-8")
    assert main(["train", str(bad)]) == 2
    assert "missing config key 'output_dir'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists() or not (tmp_path / "run" / "model").exists()


def test_same_seed_same_loss_curve(tmp_path, tiny_gemma_dir):
    curves = []
    for i in range(2):
        d = tmp_path / f"r{i}"
        d.mkdir()
        assert main(["train", str(_recipe(d, tiny_gemma_dir))]) == 0
        hist = json.loads((d / "run" / "metrics.json").read_text())["log_history"]
        curves.append([(h["step"], h["loss"], h["loss_contrastive"], h["loss_lm"]) for h in hist if "loss" in h])
    assert curves[0] == curves[1] and len(curves[0]) == 3


def test_non_finite_loss_stops_with_a_clear_line_and_keeps_the_last_checkpoint(tmp_path, tiny_gemma_dir, capsys):
    # lr 1e30 turns the weights into inf after the first updates: the loss becomes NaN a step later
    recipe = _recipe(tmp_path, tiny_gemma_dir)
    rc = main(["train", str(recipe), "training.learning_rate=1e30", "training.max_steps=6", "training.save_steps=1",
               "training.max_grad_norm=0", "training.optim=sgd"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "non-finite loss at step" in err and "--resume" in err
    run = tmp_path / "run"
    assert not (run / "model").exists()
    ckpts = sorted(run.glob("checkpoint-*"))
    assert ckpts, "the last good checkpoint is kept"
    assert (ckpts[-1] / "trainer_state.json").is_file()


def test_group_by_length_works_for_contrastive_only_items(tmp_path, tiny_gemma_dir):
    # transformers' own sampler needs `input_ids` in every item; contrastive-only items have only x/y pairs.
    recipe = _recipe(tmp_path, tiny_gemma_dir, objectives={"lm_weight": 0.0},
                     data={"instructions": [], "translation_instructions": False},
                     training={"train_sampling_strategy": "group_by_length"})
    assert main(["train", str(recipe)]) == 0
    logged = [h for h in json.loads((tmp_path / "run" / "metrics.json").read_text())["log_history"] if "loss" in h]
    assert len(logged) == 3 and all("loss_contrastive" in h and "loss_lm" not in h for h in logged)


@pytest.mark.parametrize("similarity, geometry", [("cosine", "raw"), ("standardized", "global")])
def test_layer_auto_chooses_on_flores_dev_in_the_objectives_geometry(similarity, geometry, tmp_path, tiny_gemma_dir,
                                                                      shared_data, monkeypatch):
    import crossalign.analysis as analysis

    real, seen = analysis.suggest_layer, []

    def spy(*a, **k):
        seen.append(k)
        return real(*a, **k)

    monkeypatch.setattr(analysis, "suggest_layer", spy)
    recipe = _recipe(tmp_path, tiny_gemma_dir, objectives={"layer": "auto", "similarity": similarity},
                     data={"data_dir": str(shared_data)}, training={"max_steps": 1})
    assert main(["train", str(recipe)]) == 0
    assert len(seen) == 1 and seen[0]["geometry"] == geometry
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["layer"] in (1, 2)  # a transformer block, never the embedding table
    assert metrics["resolved_auto"]["objectives.layer_geometry"] == geometry
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["objectives"]["layer"] == "auto"  # kept as written


@pytest.mark.parametrize("attn, lm_loss", [("auto", "chunked"), ("eager", "auto")])
def test_attn_implementation_and_lm_loss_reach_the_run(tmp_path, tiny_gemma_dir, attn, lm_loss):
    recipe = _recipe(tmp_path, tiny_gemma_dir, model={"attn_implementation": attn, "gradient_checkpointing": True},
                     objectives={"lm_loss": lm_loss}, training={"max_steps": 1})
    assert main(["train", str(recipe)]) == 0
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["model"]["attn_implementation"] == attn and saved["objectives"]["lm_loss"] == lm_loss  # kept as written
    if attn == "auto":
        assert metrics["resolved_auto"]["model.attn_implementation"] == "sdpa"
    else:
        assert "model.attn_implementation" not in metrics["resolved_auto"]
    if lm_loss == "auto":  # the tiny model's 400-token vocabulary: the full logits are small
        assert metrics["resolved_auto"]["objectives.lm_loss"] == "full"
    assert any("loss_lm" in h for h in metrics["log_history"])


def test_trainer_gradient_checkpointing_goes_through_models_and_keeps_the_losses(tmp_path, tiny_gemma_dir, monkeypatch):
    """`training.gradient_checkpointing: true` (the Trainer's switch) failed: the Trainer passes `every_n_layers`."""
    import crossalign.objectives.composite as composite

    real, calls = composite.enable_gradient_checkpointing, []

    def spy(*a, **k):
        calls.append(k)
        return real(*a, **k)

    monkeypatch.setattr(composite, "enable_gradient_checkpointing", spy)
    curves = {}
    for gc in (False, True):
        d = tmp_path / str(gc)
        d.mkdir()
        assert main(["train", str(_recipe(d, tiny_gemma_dir)), f"training.gradient_checkpointing={str(gc).lower()}",
                     "training.max_steps=2"]) == 0
        hist = json.loads((d / "run" / "metrics.json").read_text())["log_history"]
        curves[gc] = [h["loss"] for h in hist if "loss" in h]
    assert len(calls) == 1 and calls[0]["every_n_layers"] == 1
    assert len(curves[False]) == 2 and curves[True] == pytest.approx(curves[False], rel=1e-6)
