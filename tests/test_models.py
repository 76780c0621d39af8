"""crossalign.models: loading every model kind, LoRA (with checkpointing), atomic saving, merge CLI, errors."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from torch import nn

from conftest import build_tiny_model
from crossalign.cli import main as cli_main
from crossalign.errors import CrossalignError
from crossalign.models import (
    apply_lora,
    check_bos,
    enable_gradient_checkpointing,
    load_model_and_tokenizer,
    merge_adapter,
    model_info,
    save_model,
)

TEXT = ["The cat sat on the mat.", "Paka aliketi."]


def _logits(model, tok):
    batch = tok(TEXT, return_tensors="pt", padding=True)
    model.eval()
    with torch.no_grad():
        return model(**batch).logits


def _trained_lora(tiny_gemma_dir):
    """A tiny LoRA model with non-zero B (fresh LoRA is the identity, which would prove nothing)."""
    model, tok = load_model_and_tokenizer(str(tiny_gemma_dir))
    model = apply_lora(model, r=4, alpha=8)
    torch.manual_seed(1)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)
    return model, tok


@pytest.fixture()
def adapter_dir(tmp_path, tiny_gemma_dir):
    model, tok = _trained_lora(tiny_gemma_dir)
    out = save_model(model, tok, tmp_path / "adapter")
    return out, _logits(model, tok)


def test_load_folder_pads_right_and_reports_info(tiny_model_dir):
    model, tok = load_model_and_tokenizer(str(tiny_model_dir))
    assert tok.padding_side == "right" and tok.pad_token is not None
    assert tok("x").input_ids[0] == tok.bos_token_id
    info = model_info(model)
    assert info["num_layers"] == 2 and info["hidden_size"] == 32 and info["vocab_size"] == len(tok)
    assert info["parameters"] == info["trainable_parameters"] > 0
    assert info["name_or_path"] == str(tiny_model_dir.absolute()) and info["lora"] is None
    _, left = load_model_and_tokenizer(str(tiny_model_dir), padding_side="left", dtype="bfloat16")
    assert left.padding_side == "left"


def test_adapter_round_trip_gives_same_logits(adapter_dir, tiny_gemma_dir):
    path, expected = adapter_dir
    assert (path / "adapter_config.json").is_file() and (path / "tokenizer.json").is_file()
    assert not (path / "config.json").exists()  # only the adapter, not a full copy of the base
    assert json.loads((path / "adapter_config.json").read_text())["base_model_name_or_path"] == str(
        tiny_gemma_dir.absolute()
    )
    model, tok = load_model_and_tokenizer(str(path))
    assert type(model).__name__.startswith("Peft")
    torch.testing.assert_close(_logits(model, tok), expected)
    assert not torch.allclose(expected, _logits(build_tiny_model("gemma3", tok), tok))  # the adapter matters
    info = model_info(model)
    assert info["lora"]["r"] == 4 and info["trainable_parameters"] == 0  # loaded for inference by default


def test_merged_save_reloads_in_plain_transformers(tmp_path, tiny_gemma_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tok = _trained_lora(tiny_gemma_dir)
    expected = _logits(model, tok)
    out = save_model(model, tok, tmp_path / "merged", merge=True)
    assert (out / "config.json").is_file() and not (out / "adapter_config.json").exists()
    assert oct(out.stat().st_mode & 0o777) == "0o755"
    plain = AutoModelForCausalLM.from_pretrained(out)
    torch.testing.assert_close(_logits(plain, AutoTokenizer.from_pretrained(out)), expected, rtol=1e-4, atol=1e-5)
    assert any("lora_" in n for n, _ in model.named_parameters())  # the caller's model was not merged in place


def test_attached_training_modules_are_not_saved(tmp_path, tiny_gemma_dir):
    from safetensors.torch import load_file

    model, tok = load_model_and_tokenizer(str(tiny_gemma_dir))
    model.align_head = nn.Linear(32, 8)  # e.g. a projection trained with the contrastive loss
    assert any(k.startswith("align_head") for k in model.state_dict())
    out = save_model(model, tok, tmp_path / "full")
    keys = load_file(out / "model.safetensors").keys()
    assert keys and not any("align_head" in k for k in keys)
    reloaded, _ = load_model_and_tokenizer(str(out))
    torch.testing.assert_close(_logits(reloaded, tok), _logits(model, tok))


@pytest.mark.parametrize("arch,after", [("gemma3", False), ("llama", False), ("llama", True)])
def test_lora_gradients_flow_with_gradient_checkpointing(arch, after, tiny_tokenizer):
    model = build_tiny_model(arch, tiny_tokenizer)
    if after:  # checkpointing switched on after LoRA, as a trainer would
        model = enable_gradient_checkpointing(apply_lora(model, r=4, alpha=8, dropout=0.0))
    else:
        model = apply_lora(model, r=4, alpha=8, dropout=0.0, gradient_checkpointing=True)
    model.train()
    layer = model.get_base_model().model.layers[0]
    assert layer.gradient_checkpointing and layer._gradient_checkpointing_func.keywords["use_reentrant"] is False
    batch = tiny_tokenizer(TEXT, return_tensors="pt", padding=True)
    out = model(**batch, labels=batch["input_ids"])
    out.loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if "lora_" in n}
    assert grads and all(g is not None for g in grads.values())
    # lora_B starts at zero, so lora_A's gradient is zero on step one; B's must not be.
    assert all(g.abs().sum() > 0 for n, g in grads.items() if "lora_B" in n)
    assert all(p.grad is None for n, p in model.named_parameters() if "lora_" not in n)


def test_full_finetune_checkpointing_matches_plain_gradients(tiny_tokenizer):
    batch = tiny_tokenizer(TEXT, return_tensors="pt", padding=True)

    def grads(checkpointing):
        model = build_tiny_model("llama", tiny_tokenizer)
        if checkpointing:
            enable_gradient_checkpointing(model)
            assert model.config.use_cache is False
        model.train()
        model(**batch, labels=batch["input_ids"]).loss.backward()
        return model.model.layers[0].self_attn.q_proj.weight.grad

    plain, ckpt = grads(False), grads(True)
    assert plain.abs().sum() > 0
    torch.testing.assert_close(ckpt, plain)


def test_apply_lora_bad_targets_is_a_user_error(tiny_tokenizer):
    with pytest.raises(CrossalignError, match="cannot apply LoRA"):
        apply_lora(build_tiny_model("llama", tiny_tokenizer), target_modules="nonexistent_proj")


def test_not_a_model_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(CrossalignError, match="is not a model: expected config.json") as e:
        load_model_and_tokenizer(str(tmp_path))
    assert str(tmp_path) in str(e.value) and "adapter_config.json" in str(e.value)


def test_missing_path(tmp_path):
    with pytest.raises(CrossalignError, match="does not exist"):
        load_model_and_tokenizer(str(tmp_path / "nope"))
    with pytest.raises(CrossalignError, match="does not exist"):
        load_model_and_tokenizer("./models/../nope.gguf")


def test_hub_id_unreachable_offline(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(CrossalignError, match="not found locally or on the Hugging Face Hub") as e:
        load_model_and_tokenizer("crossalign-test/no-such-model")
    assert "\n" not in str(e.value)


def test_config_that_is_not_a_causal_lm(tmp_path):
    from transformers import T5Config

    T5Config(d_model=32, num_layers=1, num_heads=2, d_ff=64).save_pretrained(tmp_path)  # encoder-decoder
    with pytest.raises(CrossalignError, match="'t5' model, which is not a causal LM"):
        load_model_and_tokenizer(str(tmp_path))


def test_adapter_without_its_base(adapter_dir, tmp_path, tiny_gemma_dir):
    path, expected = adapter_dir
    cfg_file = path / "adapter_config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["base_model_name_or_path"] = str(tmp_path / "moved-away")
    cfg_file.write_text(json.dumps(cfg))
    with pytest.raises(CrossalignError, match="needs its base model") as e:
        load_model_and_tokenizer(str(path))
    assert "base_model=" in str(e.value) and "--base-model" in str(e.value)
    model, tok = load_model_and_tokenizer(str(path), base_model=str(tiny_gemma_dir))  # the fix works
    torch.testing.assert_close(_logits(model, tok), expected)


def test_existing_output_folder_is_refused_and_untouched(tmp_path, tiny_gemma_dir):
    model, tok = load_model_and_tokenizer(str(tiny_gemma_dir))
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(CrossalignError, match="--overwrite") as e:
        save_model(model, tok, out)
    assert str(out) in str(e.value)
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temp folder left behind
    save_model(model, tok, out, overwrite=True)
    assert not (out / "keep.txt").exists() and (out / "config.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    empty = tmp_path / "empty"
    empty.mkdir()
    save_model(model, tok, empty)  # an empty folder is fine
    assert (empty / "config.json").is_file()


def test_merge_adapter_and_cli(adapter_dir, tmp_path, tiny_gemma_dir):
    from transformers import AutoModelForCausalLM

    path, expected = adapter_dir
    tok = load_model_and_tokenizer(str(tiny_gemma_dir))[1]
    out = merge_adapter(path, tmp_path / "m1")
    torch.testing.assert_close(_logits(AutoModelForCausalLM.from_pretrained(out), tok), expected, rtol=1e-4, atol=1e-5)

    assert cli_main(["merge", str(path), str(tmp_path / "m2"), "--base-model", str(tiny_gemma_dir)]) == 0
    assert (tmp_path / "m2" / "config.json").is_file()
    assert cli_main(["merge", str(path), str(tmp_path / "m2")]) == 2  # exists
    assert cli_main(["merge", str(path), str(tmp_path / "m2"), "--overwrite"]) == 0
    assert cli_main(["merge", str(tiny_gemma_dir), str(tmp_path / "m3")]) == 2  # not an adapter
    assert cli_main(["merge", str(path), str(tmp_path / "m4"), "--base-model", str(tmp_path / "gone")]) == 2
    assert not (tmp_path / "m3").exists() and not (tmp_path / "m4").exists()


def test_bos_check_warns_when_bos_is_dropped(tiny_tokenizer, caplog):
    from transformers import PreTrainedTokenizerFast

    assert check_bos(tiny_tokenizer, "gemma3_text")
    raw = tiny_tokenizer.backend_tokenizer.__class__.from_str(tiny_tokenizer.backend_tokenizer.to_str())
    raw.post_processor = None
    no_bos = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>")
    assert no_bos("x").input_ids[0] != no_bos.bos_token_id
    with caplog.at_level(logging.WARNING, logger="crossalign.models"):
        assert not check_bos(no_bos, "gemma3_text")
    assert "does not prepend <bos>" in caplog.text
    assert check_bos(no_bos, "qwen2")  # models without BOS are not warned about


@pytest.mark.slow
def test_embedded_model_loads_saves_and_reloads(tmp_path):
    from transformers import AutoModelForCausalLM

    model, tok = load_model_and_tokenizer("gemma-3-270m")
    assert tok.padding_side == "right"
    batch = tok(["Die Katze sass auf der Matte."], return_tensors="pt")
    assert batch.input_ids[0, 0] == tok.bos_token_id
    info = model_info(model)
    assert (info["num_layers"], info["hidden_size"], info["name_or_path"]) == (18, 640, "gemma-3-270m")
    out = save_model(model, tok, tmp_path / "saved", merge=True)
    with torch.no_grad():
        expected = model(**batch).logits
        got = AutoModelForCausalLM.from_pretrained(out).eval()(**batch).logits
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
