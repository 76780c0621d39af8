"""`crossalign push` and `training.push_to_hub`: what reaches `huggingface_hub.HfApi` (mocked: the Hub is not
reachable here), the card rendered again, and one-line errors that name the fix."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import ModelCard
from huggingface_hub.errors import HfHubHTTPError

from crossalign.cli import main
from test_train_recipe import _recipe


class FakeHfApi:
    """Records the calls `crossalign.hub` makes and the files the uploaded folder holds at upload time."""

    calls: list = []
    fail: Exception | None = None

    def __init__(self, token=None, **_):
        self.token = token

    def create_repo(self, repo_id, **kwargs):
        if FakeHfApi.fail is not None:
            raise FakeHfApi.fail
        FakeHfApi.calls.append(("create_repo", repo_id, kwargs, self.token))

    def create_branch(self, repo_id, branch, **kwargs):
        FakeHfApi.calls.append(("create_branch", repo_id, branch))

    def upload_folder(self, repo_id, folder_path, **kwargs):
        folder = Path(folder_path)
        files = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        FakeHfApi.calls.append(("upload_folder", repo_id, folder, files, kwargs))
        return type("CommitInfo", (), {"commit_url": f"https://huggingface.co/{repo_id}/commit/abc"})()


@pytest.fixture()
def hub(monkeypatch, tmp_path):
    """HfApi replaced by FakeHfApi, a token in HF_TOKEN and none stored on disk."""
    import huggingface_hub
    from huggingface_hub import constants

    FakeHfApi.calls, FakeHfApi.fail = [], None
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHfApi)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    return FakeHfApi


@pytest.fixture(scope="module")
def pushed_run(tmp_path_factory, tiny_gemma_dir):
    """A LoRA run trained with training.push_to_hub: the calls that reached the Hub client during training."""
    import huggingface_hub
    from huggingface_hub import constants

    root = tmp_path_factory.mktemp("push")
    recipe = _recipe(root, tiny_gemma_dir, model={"name": str(tiny_gemma_dir), "lora": True, "lora_r": 4},
                     training={"push_to_hub": True, "hub_model_id": "me/afp-tiny", "hub_private_repo": True})
    FakeHfApi.calls, FakeHfApi.fail = [], None
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(huggingface_hub, "HfApi", FakeHfApi)
        mp.setattr(constants, "HF_TOKEN_PATH", str(root / "no-token"))
        mp.setenv("HF_TOKEN", "hf_test_token")
        assert main(["train", str(recipe)]) == 0
    return root / "run", list(FakeHfApi.calls)


def test_push_to_hub_uploads_the_final_model_once_never_a_checkpoint(pushed_run):
    run, calls = pushed_run
    assert [c[0] for c in calls] == ["create_repo", "upload_folder"]
    _, repo, kwargs, token = calls[0]
    assert (repo, kwargs["private"], kwargs["exist_ok"], token) == ("me/afp-tiny", True, True, "hf_test_token")
    _, repo, folder, files, _ = calls[1]
    assert folder == run / "model" and (run / "checkpoint-2").is_dir()
    assert set(files) == {p.name for p in (run / "model").iterdir()}
    assert {"README.md", "config.json", "model.safetensors", "tokenizer.json"} <= set(files)
    assert b'from_pretrained("me/afp-tiny")' in files["README.md"]


def test_push_command_uploads_the_folder_and_a_card_with_later_results(pushed_run, hub, capsys):
    run, _ = pushed_run
    summary = [{"task": "xcopa", "split": "test", "protocol": "cross", "shots": 0, "metric": "acc",
                "langs": {"deu": {"mean": 0.61, "std": 0.0, "seeds": 1, "n": 50}}, "avg": 0.61}]
    (run / "eval.json").write_text(json.dumps({"run": {"model": "m"}, "cells": {"c": {}}, "summary": summary}))
    try:
        assert main(["push", str(run), "me/afp-tiny-adapter", "--adapter", "--revision", "v1",
                     "--commit-message", "first"]) == 0
    finally:
        (run / "eval.json").unlink()
    assert [c[0] for c in hub.calls] == ["create_repo", "create_branch", "upload_folder"]
    _, repo, folder, files, kwargs = hub.calls[-1]
    assert repo == "me/afp-tiny-adapter" and folder == run / "adapter"
    assert (kwargs["revision"], kwargs["commit_message"]) == ("v1", "first")
    assert set(files) == {"README.md", "adapter_config.json", "adapter_model.safetensors", "tokenizer.json",
                          "tokenizer_config.json"}
    card = ModelCard((files["README.md"]).decode())
    assert card.data.library_name == "peft" and "crossalign" in card.data.tags
    assert "| acc | 61.0 | 61.0 |" in card.text  # evaluated after training: on the card now
    assert files["README.md"] == (run / "adapter" / "README.md").read_bytes()  # the folder's card is updated too
    assert "pushed" in capsys.readouterr().out


def _http_error(status: int) -> HfHubHTTPError:
    request = httpx2.Request("POST", "https://huggingface.co/api/repos/create")
    return HfHubHTTPError(f"{status} error", response=httpx2.Response(status, request=request))


@pytest.mark.parametrize("error, expected", [
    (_http_error(401), "huggingface-cli login"),
    (_http_error(403), "write token"),
    (_http_error(404), "check the user/organization"),
    (httpx2.ConnectError("[Errno 111] Connection refused"), "cannot reach the Hugging Face Hub"),
], ids=["401", "403", "404", "offline"])
def test_hub_failures_are_one_line_that_names_the_fix(pushed_run, hub, capsys, error, expected):
    run, _ = pushed_run
    hub.fail = error
    assert main(["push", str(run), "me/afp-tiny"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0] and "Traceback" not in err[0]
    assert not [c for c in hub.calls if c[0] == "upload_folder"]


@pytest.mark.parametrize("argv, expected", [
    (["{run}", "not a repo id"], "not a Hub repo id"),
    (["{run}", "a/b/c"], "user/name"),
    (["{run}/nope", "me/x"], "not a folder"),
    (["{run}/checkpoint-2", "me/x"], "holds no saved model/ or adapter/"),
    (["{run}/checkpoint-2", "me/x", "--model"], "holds no saved model (config.json)"),
    (["{run}", "me/x", "--results", "{run}/config.yaml"], "not a crossalign eval"),
], ids=["spaces", "three parts", "missing folder", "no model", "no model/", "bad --results"])
def test_bad_push_inputs_fail_before_any_network_call(pushed_run, hub, capsys, argv, expected):
    run, _ = pushed_run
    assert main(["push", *(a.format(run=run) for a in argv)]) == 2
    assert expected in capsys.readouterr().err
    assert hub.calls == []


def test_no_token_names_the_login_before_any_network_call(pushed_run, hub, capsys, monkeypatch):
    run, _ = pushed_run
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    assert main(["push", str(run), "me/x"]) == 2
    assert "huggingface-cli login" in capsys.readouterr().err and hub.calls == []


def test_adapter_of_a_full_weights_run_is_refused(tmp_path, hub, capsys):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    assert main(["push", str(tmp_path), "me/x", "--adapter"]) == 2
    assert "trained all weights" in capsys.readouterr().err and hub.calls == []


def test_a_failed_push_after_training_keeps_the_model_and_says_how_to_push_again(tmp_path, tiny_gemma_dir, hub, capsys):
    recipe = _recipe(tmp_path, tiny_gemma_dir, training={"max_steps": 1, "push_to_hub": True, "hub_model_id": "me/x"})
    hub.fail = _http_error(401)
    assert main(["train", str(recipe)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "huggingface-cli login" in err and f"crossalign push {tmp_path / 'run'} me/x" in err
    assert (tmp_path / "run" / "model" / "README.md").is_file() and (tmp_path / "run" / "metrics.json").is_file()


def test_a_multi_stage_run_pushes_its_last_stage(tmp_path):
    from crossalign.hub import pushable_folder

    (tmp_path / "config.yaml").write_text("stages:\n- name: stage1\n- name: stage2\n")
    for stage in ("stage1", "stage2"):
        (tmp_path / stage / "model").mkdir(parents=True)
        (tmp_path / stage / "model" / "config.json").write_text("{}")
    assert pushable_folder(tmp_path) == tmp_path / "stage2" / "model"
    assert pushable_folder(tmp_path / "stage1") == tmp_path / "stage1" / "model"
