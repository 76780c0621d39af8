import pytest

from crossalign.config import load_config, save_config, to_dict
from crossalign.errors import CrossalignError
from crossalign.recipes import available, recipe_path
from crossalign.training.config import TrainConfig, stage_configs, training_arguments, validate


@pytest.mark.parametrize("name", available())
def test_every_recipe_loads_validates_and_round_trips(name, tmp_path):
    cfg = load_config(TrainConfig, recipe_path(name))
    validate(cfg)
    saved = save_config(cfg, tmp_path / "config.yaml")
    again = load_config(TrainConfig, saved)
    assert to_dict(again) == to_dict(cfg)


def test_overrides_reach_nested_fields_and_coerce_types():
    cfg = load_config(TrainConfig, recipe_path("alignx-cpu"), [
        "stages.0.objectives.layer=auto", "training.learning_rate=1e-5", "data.languages=[de,sw]", "model.lora=false",
    ])
    assert cfg.stages[0].objectives["layer"] == "auto"
    assert cfg.training["learning_rate"] == 1e-5 and cfg.model.lora is False
    stages = dict(stage_configs(cfg))
    assert stages["stage1"].objectives.language_matching_weight == 0.4
    assert stages["stage2"].objectives.contrastive_weight == 0.0
    assert stages["stage1"].objectives.layer == "auto"
    args = training_arguments(stages["stage2"], "/tmp/x")
    assert args.learning_rate == 1e-5 and args.max_steps == 20 and args.seed == cfg.seed


def test_yaml_string_numbers_become_floats():
    # PyYAML reads "1e-5" (no dot) as a string: the typed loader still gives a float
    cfg = load_config(TrainConfig, None, ["output_dir=x", "objectives.temperature=5e-2"])
    assert cfg.objectives.temperature == 0.05


def test_missing_and_unknown_keys():
    with pytest.raises(CrossalignError, match="missing config key 'output_dir'"):
        load_config(TrainConfig, None, [])
    with pytest.raises(CrossalignError, match="did you mean 'pooling'"):
        load_config(TrainConfig, None, ["output_dir=x", "objectives.poolng=mean"])


def test_a_retired_key_in_an_old_runs_config_is_ignored_with_a_warning(tmp_path, caplog):
    # config.yaml of runs before `model.save_merged` was removed (LoRA runs always save model/ and adapter/)
    old = tmp_path / "config.yaml"
    old.write_text("output_dir: x\nmodel:\n  lora: true\n  save_merged: true\nstages:\n- name: a\n  model:\n"
                   "    save_merged: false\n", encoding="utf-8")
    cfg = load_config(TrainConfig, old)
    assert cfg.model.lora is True and "save_merged" not in to_dict(cfg)["model"]
    assert all("save_merged" not in to_dict(s.model) for _, s in stage_configs(cfg))
    assert "'save_merged' is no longer used" in caplog.text
    with pytest.raises(CrossalignError, match="unknown key 'save_mergd'"):
        load_config(TrainConfig, None, ["output_dir=x", "model.save_mergd=true"])
