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

pytestmark = pytest.mark.numerics  # sums in a kernel-dependent order: run under every CPU capability (.ci/run)

LAYER = 9
MIN_DROP = 0.016


def heldout_loss(model, tok, texts) -> float:
    """Contrastive loss of English vs German and Estonian FLORES dev sentences (never in the training data), in the
    geometry afp-cpu trains (the standardized similarity)."""
    losses = []
    with torch.no_grad():
        for other in ("deu_Latn", "est_Latn"):
            vecs = []
            for side in ("eng_Latn", other):
                enc = tok(texts[side], return_tensors="pt", padding=True)
                h = hidden_states(model, enc["input_ids"], enc["attention_mask"], [LAYER])[LAYER]
                vecs.append(pool(h, enc["input_ids"], enc["attention_mask"], "mean", special_token_ids(tok)))
            loss = ContrastiveLoss(temperature=0.05, similarity="standardized")
            losses.append(loss.compute_loss_from_embeddings(*vecs).item())
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
        # Every setting the drop depends on, pinned: the recipe's similarity and weight (standardized, 1), no KL term
        # (afp-cpu ships one; it holds the model at the base and is not what this test is about), and fp32, since
        # `bf16: auto` turns bf16 on only on CPUs with native bf16: every CPU then runs the same math.
        "objectives.similarity=standardized", "objectives.contrastive_weight=1", "objectives.kl_weight=0",
        "training.bf16=false",
    ])
    result = run_training(cfg)
    trained = result.lm.eval()
    reloaded = AutoModelForCausalLM.from_pretrained(result.model_dir).eval()
    enc = tok(["Die Katze sitzt auf der Matte.", "Kass istub matil."], return_tensors="pt", padding=True)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**enc).logits, trained(**enc).logits, rtol=1e-4, atol=1e-4)
    after = heldout_loss(reloaded, tok, texts)
    # Measured 0.2981 -> 0.2336 under ATEN_CPU_CAPABILITY=avx512, avx2 (+ ONEDNN_MAX_CPU_ISA=AVX2) and default,
    # equal to 1e-5: the mechanism gives a 22% drop, and a quarter of it is asked for (another CPU's summation
    # order moves the loss ~1e-5; the old threshold, 0.01 of a cosine loss that 12 steps move by 0.01, did not hold).
    assert after < before - MIN_DROP, (before, after)
    losses = [h["loss_contrastive"] for h in result.metrics["log_history"] if "loss_contrastive" in h]
    assert len(losses) >= 3 and all(l == l for l in losses)
