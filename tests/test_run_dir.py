"""The run-folder layout (crossalign.run_dir): where a one-stage and a multi-stage run keep their model."""

from __future__ import annotations

import pytest

from crossalign.run_dir import RunDir, StageDir


def _saved(folder, name):
    folder.mkdir(parents=True)
    (folder / name).write_text("{}")


def test_one_stage_run(tmp_path):
    (tmp_path / "config.yaml").write_text("recipe: afp-cpu\n")
    run = RunDir(tmp_path)
    assert run.is_run() and run.final_stage() == StageDir(tmp_path)
    stage = run.stage()
    assert not stage.saved("model") and stage.read_metrics() is None
    _saved(stage.model, "config.json")
    (stage.metrics).write_text('{"global_step": 3}')
    assert stage.saved("model") and not stage.saved("adapter") and stage.read_metrics() == {"global_step": 3}
    assert RunDir.of_stage(stage) == run
    with pytest.raises(ValueError):
        stage.folder("weights")


def test_multi_stage_run_keeps_its_model_in_the_last_stage(tmp_path):
    (tmp_path / "config.yaml").write_text("recipe: alignx-cpu\nstages:\n- name: stage1\n- name: stage2\n")
    run = RunDir(tmp_path)
    assert run.final_stage() == StageDir(tmp_path / "stage2")
    _saved(run.stage("stage2").adapter, "adapter_config.json")
    assert run.final_stage().saved("adapter")
    assert RunDir.of_stage(tmp_path / "stage1") == run  # a stage folder holds no config.yaml of its own


def test_a_folder_that_is_no_run_is_its_own_stage(tmp_path):
    assert not RunDir(tmp_path).is_run() and RunDir(tmp_path).final_stage().path == tmp_path
