"""mid-align: the alternating schedule (training/schedule.py), `layer: middle`, and the recipe on a tiny model."""

import json
from types import SimpleNamespace

import pytest
from accelerate.data_loader import BatchSamplerShard
from torch.utils.data import BatchSampler, DataLoader, Dataset

from crossalign.cli import main
from crossalign.config import load_config
from crossalign.errors import CrossalignError
from crossalign.recipes import recipe_path
from crossalign.training.config import ObjectiveConfig, TrainConfig
from crossalign.training.data import AlignmentCollator
from crossalign.training.schedule import ALIGN, TASK, AlternatingDataset, alternating_sampler
from test_train_recipe import _recipe

pytestmark = pytest.mark.numerics  # sums in a kernel-dependent order: run under every CPU capability (.ci/run)


class Both(Dataset):
    """Items carrying a pair and a sequence, as AlignmentDataset builds them; the index is in the tokens."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def lengths(self):
        return [3 + i % 4 for i in range(self.n)]

    def __getitem__(self, i):
        return {"x_input_ids": [1, 10 + i], "y_input_ids": [1, 10 + i, 5], "input_ids": [1, 10 + i, 6, 7],
                "labels": [-100, -100, 6, 7]}


def _args(batch, accum, world=1, strategy="random", seed=0):
    return SimpleNamespace(data_seed=None, seed=seed, train_sampling_strategy=strategy, train_batch_size=batch,
                           gradient_accumulation_steps=accum, world_size=world)


class _Tok:
    pad_token_id = 0
    padding_side = "right"


def _kinds(batches):
    out = []
    for b in batches:
        has_pair, has_seq = "x_input_ids" in b, "input_ids" in b
        assert has_pair != has_seq, "a batch is one phase: pairs or sequences, never both"
        out.append(ALIGN if has_pair else TASK)
    return out


@pytest.mark.parametrize("every, accum", [(1, 1), (1, 2), (2, 1), (3, 2)])
@pytest.mark.parametrize("strategy", ["random", "group_by_length"])
def test_batches_alternate_exactly_as_configured(every, accum, strategy):
    data = AlternatingDataset(Both(37), every)
    sampler = alternating_sampler(data, _args(batch=4, accum=accum, strategy=strategy))
    batches = list(DataLoader(data, batch_size=4, sampler=sampler, collate_fn=AlignmentCollator(_Tok()), drop_last=True))
    turn = every * accum  # micro-batches per turn
    expected = [TASK if (k // turn) % 2 == 0 else ALIGN for k in range(len(batches))]
    assert _kinds(batches) == expected
    assert len(sampler) % (2 * turn * 4) == 0 and len(batches) * 4 == len(sampler)  # whole cycles, all batches full
    # the first pass over the keys covers every item once; later keys continue with a fresh shuffle
    def first_epoch(seed):
        return list(alternating_sampler(data, _args(batch=4, accum=accum, strategy=strategy, seed=seed)))

    keys = first_epoch(0)
    assert sorted(i for i, _ in keys[:37]) == list(range(37))
    assert keys == first_epoch(0) and keys != first_epoch(1)  # seeded, identical on every rank


def test_every_rank_gets_one_phase_per_optimizer_step():
    # Accelerate deals whole per-device batches round-robin to the ranks; each rank accumulates `accum` of them.
    accum, world, batch = 2, 2, 3
    data = AlternatingDataset(Both(20), 1)
    sampler = alternating_sampler(data, _args(batch=batch, accum=accum, world=world))
    for rank in range(world):
        shard = BatchSamplerShard(BatchSampler(sampler, batch, drop_last=True), num_processes=world, process_index=rank)
        phases = [{p for _, p in b} for b in shard]
        assert all(len(p) == 1 for p in phases)
        steps = [set.union(*phases[s : s + accum]) for s in range(0, len(phases), accum)]
        assert [next(iter(s)) for s in steps] == [TASK if k % 2 == 0 else ALIGN for k in range(len(steps))]


def test_phase_fields():
    data = AlternatingDataset(Both(3), 1)
    assert set(data[(2, TASK)]) == {"input_ids", "labels"} and data[(2, TASK)]["input_ids"][1] == 12
    assert set(data[(2, ALIGN)]) == {"x_input_ids", "y_input_ids"} and data[(2, ALIGN)]["x_input_ids"][1] == 12


def test_config_checks_and_defaults():
    assert ObjectiveConfig().schedule == "joint"  # today's behaviour unless a recipe asks
    assert ObjectiveConfig(layer="Middle").layer == "middle"
    with pytest.raises(CrossalignError, match="'auto' or 'middle'"):
        ObjectiveConfig(layer="center")
    with pytest.raises(CrossalignError, match="schedule must be joint or alternate"):
        ObjectiveConfig(schedule="interleaved")
    with pytest.raises(CrossalignError, match="alternate_every"):
        ObjectiveConfig(schedule="alternate", contrastive_weight=1.0, alternate_every=0)
    for bad in (dict(contrastive_weight=0.0), dict(contrastive_weight=1.0, contrastive_input="spans"),
                dict(contrastive_weight=1.0, language_matching_weight=0.4), dict(contrastive_weight=1.0, lm_weight=0.0)):
        with pytest.raises(CrossalignError, match="schedule=alternate takes turns"):
            ObjectiveConfig(schedule="alternate", **bad)


@pytest.mark.parametrize("name", ["mid-align", "mid-align-cpu"])
def test_recipes_alternate_every_step_at_the_middle_layer(name):
    cfg = load_config(TrainConfig, recipe_path(name))
    o = cfg.objectives
    assert (o.schedule, o.alternate_every, o.layer, o.contrastive_input, o.temperature) == ("alternate", 1, "middle", "pairs", 0.1)
    assert cfg.model.lora and cfg.training["ddp_find_unused_parameters"] is True


def test_tiny_mid_align_run_alternates_logged_terms_and_saves_an_adapter(tmp_path, tiny_gemma_dir):
    recipe = _recipe(tmp_path, tiny_gemma_dir, model={"name": str(tiny_gemma_dir), "lora": True, "lora_r": 4},
                     objectives={"schedule": "alternate", "layer": "middle", "lm_weight": 1.0, "temperature": 0.1},
                     data={"translation_instructions": False},
                     training={"max_steps": 4, "per_device_train_batch_size": 2, "save_steps": 4})
    assert main(["train", str(recipe)]) == 0
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["layer"] == 1 and metrics["resolved_auto"]["objectives.layer"] == 1  # 2 layers // 2
    logged = [h for h in metrics["log_history"] if "loss" in h]
    assert [h["step"] for h in logged] == [1, 2, 3, 4]
    terms = [sorted(k for k in h if k.startswith("loss_")) for h in logged]
    assert terms == [["loss_lm"], ["loss_contrastive"], ["loss_lm"], ["loss_contrastive"]]
    assert all(h["loss"] > 0 for h in logged)
    adapter = run / "adapter"
    assert (adapter / "adapter_config.json").is_file() and (adapter / "adapter_model.safetensors").is_file()
    from safetensors.torch import load_file

    weights = load_file(adapter / "adapter_model.safetensors")
    assert any(k.endswith("lora_B.weight") and bool(v.abs().sum() > 0) for k, v in weights.items())  # B starts at 0
    assert (run / "model" / "config.json").is_file()


def test_alternate_with_spans_is_refused_before_loading(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"output_dir: {tmp_path / 'run'}\nmodel: {{name: /nonexistent/model}}\n"
                      "objectives: {schedule: alternate, contrastive_weight: 1.0, contrastive_input: spans}\n", encoding="utf-8")
    assert main(["train", str(recipe)]) == 2
    assert "schedule=alternate takes turns" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
