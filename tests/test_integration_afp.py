"""The real embedded model on real Tatoeba pairs: a short AFP run lowers the contrastive loss on held-out
FLORES pairs, and the saved model reloads in plain transformers with the in-memory logits."""

import pytest
import torch
from transformers import AutoModelForCausalLM

from crossalign.config import load_config
from crossalign.data.parallel import load_multiway
from crossalign.hidden_states import hidden_states
from crossalign.models import load_model_and_tokenizer
from crossalign.objectives import ContrastiveLoss
from crossalign.pooling import pool, special_token_ids
from crossalign.recipes import recipe_path
from crossalign.training.config import TrainConfig
from crossalign.training.run import run_training

LAYER = 9


def heldout_loss(model, tok, texts) -> float:
    """Contrastive loss of English vs German FLORES dev sentences (never in the training data)."""
    losses = []
    with torch.no_grad():
        for other in ("deu_Latn", "est_Latn"):
            vecs = []
            for side in ("eng_Latn", other):
                enc = tok(texts[side], return_tensors="pt", padding=True)
                h = hidden_states(model, enc["input_ids"], enc["attention_mask"], [LAYER])[LAYER]
                vecs.append(pool(h, enc["input_ids"], enc["attention_mask"], "mean", special_token_ids(tok)))
            losses.append(ContrastiveLoss(temperature=0.05).compute_loss_from_embeddings(*vecs).item())
    return sum(losses) / len(losses)


@pytest.mark.slow
def test_short_afp_run_lowers_contrastive_loss_and_reloads(tmp_path, shared_data):
    texts = load_multiway("flores200", ["eng_Latn", "deu_Latn", "est_Latn"], "dev", root=shared_data, limit=32)
    base, tok = load_model_and_tokenizer("gemma-3-270m")
    before = heldout_loss(base, tok, texts)
    del base
    cfg = load_config(TrainConfig, recipe_path("afp-cpu"), [
        f"output_dir={tmp_path / 'run'}", f"data.data_dir={shared_data}", "data.languages=[deu,est]",
        "data.max_pairs_per_language=300", "data.instructions=[]", "data.max_length=64", "data.max_sentence_length=32",
        "training.max_steps=12", "training.learning_rate=1e-3", "training.per_device_train_batch_size=16",
        "training.logging_steps=2", "training.save_steps=100", "training.disable_tqdm=true", f"objectives.layer={LAYER}",
        # With the released weights (w_cl 1, w_cit 1.5) the LM gradient is ~10x the contrastive one on Gemma 3
        # (huge hidden-state norms shrink cosine gradients) and 12 steps barely move the alignment; a larger
        # w_cl shows the mechanism in a test-sized run. Choosing weights for real runs is done on FLORES dev.
        "objectives.contrastive_weight=10", "objectives.similarity=cosine",  # the held-out loss above is the cosine one
    ])
    result = run_training(cfg)
    trained = result.lm.eval()
    reloaded = AutoModelForCausalLM.from_pretrained(result.model_dir).eval()
    enc = tok(["Die Katze sitzt auf der Matte.", "Kass istub matil."], return_tensors="pt", padding=True)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**enc).logits, trained(**enc).logits, rtol=1e-4, atol=1e-4)
    after = heldout_loss(reloaded, tok, texts)
    assert after < before - 0.01, (before, after)  # deterministic evaluation: no noise to exceed
    losses = [h["loss_contrastive"] for h in result.metrics["log_history"] if "loss_contrastive" in h]
    assert len(losses) >= 3 and all(l == l for l in losses)
