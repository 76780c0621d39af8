"""Shared fixtures: tiny random models (2 layers, hidden 32) and a tiny byte-level tokenizer, built offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CROSSALIGN_DATA", REPO.parent / "shared" / "data"))

_CORPUS = [
    "The cat sat on the mat.", "Die Katze sass auf der Matte.", "Le chat est assis sur le tapis.",
    "El gato se sentó en la alfombra.", "Paka aliketi kwenye mkeka.", "Kass istus matil.",
    "猫坐在垫子上。", "बिल्ली चटाई पर बैठी।", "แมวนั่งบนเสื่อ", "Kedi paspasın üstüne oturdu.",
    "Con mèo ngồi trên tấm thảm.", "Kucing itu duduk di atas tikar.", "القطة جلست على الحصيرة.",
    "Translate into German:", "Answer in Swahili:", "Question: What happened? Answer:",
] * 4


def build_tiny_tokenizer(path: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<pad>", "<bos>", "<eos>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(_CORPUS, trainer)
    bos = tok.token_to_id("<bos>")
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", bos)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", padding_side="right"
    )
    fast.save_pretrained(path)
    return fast


def build_tiny_model(arch: str, tokenizer, path: Path | None = None, seed: int = 0, sliding_window: int = 16):
    """A 2-layer, hidden-32 random causal LM of the given architecture (gemma3: its local layers attend to the
    last `sliding_window` tokens)."""
    from transformers import AutoModelForCausalLM, Gemma3TextConfig, LlamaConfig, Qwen2Config

    common = dict(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    if arch == "gemma3":
        cfg = Gemma3TextConfig(**common, head_dim=8, sliding_window=sliding_window, tie_word_embeddings=True)
    elif arch == "llama":
        cfg = LlamaConfig(**common, tie_word_embeddings=False)
    elif arch == "qwen2":
        cfg = Qwen2Config(**common, tie_word_embeddings=True)
    else:
        raise ValueError(arch)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg)
    model.eval()
    if path is not None:
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    return model


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory):
    return build_tiny_tokenizer(tmp_path_factory.mktemp("tiny_tok"))


@pytest.fixture(scope="session", params=["gemma3", "llama"])
def tiny_model_dir(request, tmp_path_factory, tiny_tokenizer):
    """A saved tiny model folder (model + tokenizer), once per architecture."""
    path = tmp_path_factory.mktemp(f"tiny_{request.param}")
    build_tiny_model(request.param, tiny_tokenizer, path)
    return path


@pytest.fixture(scope="session")
def tiny_gemma_dir(tmp_path_factory, tiny_tokenizer):
    path = tmp_path_factory.mktemp("tiny_gemma3")
    build_tiny_model("gemma3", tiny_tokenizer, path)
    return path


@pytest.fixture()
def tiny_model(tiny_tokenizer):
    return build_tiny_model("gemma3", tiny_tokenizer)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models: thread start-up costs more than it saves, and hurts badly on shared cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def shared_data():
    if not (SHARED_DATA / "flores200").is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


def load_experiment(name: str):
    """An `experiments/<name>.py` script as a module (the scripts are not part of the package)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(name, REPO / "experiments" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod
