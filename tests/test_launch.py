"""The multi-process launch path through the CLI: `torchrun --nproc_per_node 2 -m crossalign train ...` (gloo, CPU).

DDP, DeepSpeed ZeRO-2, ZeRO-3 and FSDP 2, each with full fine-tuning and LoRA, on a tiny Llama and tiny local
data: every launch exits 0 into a fresh output folder, logs the losses of one process on the concatenated
batch, and saves a model (and adapter) that plain transformers loads and that equals the one-process result.

Accelerate enables FSDP on GPU device types only, so on CPU `training.fsdp` would train plain DDP; the FSDP
launches here put `tests/fsdp_on_cpu` on PYTHONPATH, whose sitecustomize forces Accelerate's state to FSDP,
and the tests assert from metrics.json that FSDP really ran, with one unit per decoder layer.

What "equal" means, on any CPU: the launches train with plain SGD in fp32 and no clipping, so each step moves a
weight by exactly -lr * gradient, and 2 processes reproduce 1 process up to the order of the fp32 sums (which differs
between batch shapes and between AVX2, AVX-512 and AMX kernels). Adam would not do: its first update is
lr * g / (|g| + eps), about lr * sign(g), so a rounding-level difference in a near-zero gradient flips a whole
update. The tests compare *updates* (trained minus initial weights); planted bugs (tests/planted_bugs) show that
the comparison fails when the data-parallel math is wrong.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
import torch
import yaml

from conftest import build_tiny_model
from torchrun import torchrun

REPO = Path(__file__).resolve().parents[1]
FORCE_FSDP = Path(__file__).with_name("fsdp_on_cpu")
ZERO2, ZERO3 = REPO / "configs" / "deepspeed" / "zero2.json", REPO / "configs" / "deepspeed" / "zero3.json"
FSDP = REPO / "configs" / "fsdp" / "fsdp.json"
PLANTED = Path(__file__).with_name("planted_bugs")
GLOBAL_BATCH = 8
ENGINES = {
    "ddp": [],
    "zero2": [f"training.deepspeed={ZERO2}"],
    "zero3": [f"training.deepspeed={ZERO3}"],
    "fsdp": ["training.fsdp=full_shard auto_wrap", f"training.fsdp_config={FSDP}"],
}


def launch(recipe: Path, out: Path, nproc: int, *overrides: str, force_fsdp: bool = False, planted_bug: str | None = None,
           timeout: int = 600):
    """`torchrun --nproc_per_node N -m crossalign train RECIPE output_dir=OUT ...` (or plain `-m crossalign` for N=1)."""
    args = ["-m", "crossalign", "train", str(recipe), f"output_dir={out}",
            f"training.per_device_train_batch_size={GLOBAL_BATCH // nproc}", *overrides]
    path = [str(REPO / "src"), str(REPO / "tests")]
    if force_fsdp:
        path.insert(0, str(FORCE_FSDP))
    if planted_bug:
        path.insert(0, str(PLANTED))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(path + [os.environ.get("PYTHONPATH", "")]),
           "TOKENIZERS_PARALLELISM": "false", "CROSSALIGN_PLANTED_BUG": planted_bug or ""}
    if nproc > 1:
        return torchrun(nproc, args, before_retry=lambda: shutil.rmtree(out, ignore_errors=True),
                        env=env, timeout=timeout, cwd=REPO)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO)


def losses(out: Path) -> dict[int, float]:
    metrics = json.loads((out / "metrics.json").read_text())
    return {h["step"]: h["loss"] for h in metrics["log_history"] if "loss" in h}


def _check(proc):
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-6000:])


def _write_recipe(folder: Path, model_dir: Path) -> Path:
    pairs = [(f"Sentence number {i} is about the cat.", f"Satz Nummer {i} handelt von der Katze.") for i in range(24)]
    tsv = folder / "pairs.tsv"
    tsv.write_text("eng_Latn\tdeu_Latn\n" + "".join(f"{a}\t{b}\n" for a, b in pairs), encoding="utf-8")
    inst = folder / "instructions.jsonl"
    rows = [{"id": str(i), "lang": lang, "instruction": "Repeat.", "input": s, "output": s}
            for i, (en, de) in enumerate(pairs) for lang, s in (("en", en), ("de", de))]
    inst.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = {
        "recipe": "launch-test", "output_dir": str(folder / "unused"), "seed": 1,
        # lora_dropout 0: dropout masks differ per rank, so 1 vs 2 processes are equal only without dropout
        "model": {"name": str(model_dir), "lora_r": 4, "lora_alpha": 8, "lora_dropout": 0.0},
        "data": {"languages": ["deu"], "parallel": [str(tsv)], "instructions": [str(inst)], "exclude_eval_sets": [],
                 "max_pairs_per_language": None, "max_length": 128, "max_sentence_length": 32},
        "objectives": {"lm_weight": 1.0, "contrastive_weight": 1.0, "layer": 1, "pooling": "mean", "temperature": 0.1},
        # SGD, fp32, no clipping: an update is -lr * gradient (see the module docstring); bf16 autocast would
        # test the kernels' rounding of 4 vs 8 rows, not the data-parallel math
        "training": {"max_steps": 2, "optim": "sgd", "learning_rate": 0.1, "max_grad_norm": 0.0, "weight_decay": 0.0,
                     "bf16": False, "logging_steps": 1, "save_strategy": "no", "disable_tqdm": True},
    }
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_tokenizer):
    folder = tmp_path_factory.mktemp("launch")
    model_dir = folder / "model"
    build_tiny_model("llama", tiny_tokenizer, model_dir)
    return folder, model_dir, _write_recipe(folder, model_dir)


@pytest.fixture(scope="module")
def reference(setup):
    """One process, batch 8: the run every 2-process launch must reproduce, per (full, LoRA)."""
    folder, _, recipe = setup
    runs = {}
    for lora in (False, True):
        out = folder / f"ref-{'lora' if lora else 'full'}"
        _check(launch(recipe, out, 1, f"model.lora={str(lora).lower()}"))
        runs[lora] = out
    return runs


@pytest.fixture(scope="module")
def initial(setup):
    """The weights every run starts from, per (full, LoRA): the tiny model, and the seeded LoRA init (lr 0)."""
    folder, model_dir, recipe = setup
    out = folder / "init-lora"
    _check(launch(recipe, out, 1, "model.lora=true", "training.learning_rate=0", "training.max_steps=1"))
    return {False: {"model": _weights(model_dir)}, True: {"model": _weights(model_dir), "adapter": _adapter(out / "adapter")}}


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).state_dict()


def _adapter(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(folder / "adapter_model.safetensors")


def _assert_close(got: dict, want: dict, what: str, atol: float):
    assert got.keys() == want.keys(), what
    for k, v in want.items():
        torch.testing.assert_close(got[k], v, rtol=1e-5, atol=atol, msg=f"{what}: {k}")


# An update is -lr * (a gradient summed in fp32). Summing k terms in another order moves the sum by at most
# ~k * eps32 of the largest term; k is ~10^3 here (hidden x tokens), so 1e-3 of a tensor's largest update bounds the
# rounding with room for kernels we do not have (AMX, oneDNN blockings). Each planted bug moves updates by a
# sizeable fraction of the largest one (tests below). The floor: (w0 - lr*g) - w0 is exact only to an ulp of w0.
UPDATE_RTOL = 1e-3
# A logged loss is a mean over 8 sequences: another summation order moves it by a few ulps (~1e-7 relative).
LOSS_RTOL = 1e-5


class Mismatch(NamedTuple):
    what: str  # "loss step 2", "model <tensor>", "adapter <tensor>"
    difference: float
    tolerance: float


def mismatches(run: Path, ref: Path, init: dict[str, dict]) -> list[Mismatch]:
    """What differs between two runs beyond the rounding bounds above: losses, then each tensor's update
    (model weights, and the adapter for LoRA). Empty when the runs are equal."""
    got, want = losses(run), losses(ref)
    assert got.keys() == want.keys(), (got, want)
    found = [Mismatch(f"loss step {s}", abs(got[s] - want[s]), LOSS_RTOL * abs(want[s])) for s in want]
    folders = {"model": (_weights, run / "model", ref / "model")}
    if "adapter" in init:
        folders["adapter"] = (_adapter, run / "adapter", ref / "adapter")
    eps = torch.finfo(torch.float32).eps
    for part, (read, a, b) in folders.items():
        w_got, w_want, w0 = read(a), read(b), init[part]
        assert w_got.keys() == w_want.keys() == w0.keys(), part
        for k in w0:
            u_got, u_want = w_got[k] - w0[k], w_want[k] - w0[k]
            tol = UPDATE_RTOL * float(u_want.abs().max()) + 4 * eps * float(w0[k].abs().max())
            found.append(Mismatch(f"{part} {k}", float((u_got - u_want).abs().max()), tol))
    return [m for m in found if m.difference > m.tolerance]


def _needs_deepspeed():
    pytest.importorskip("deepspeed", reason="DeepSpeed is not installed: pip install -e '.[deepspeed]' (make test does)")
    if shutil.which(os.environ.get("CXX", "g++")) is None:
        pytest.skip("DeepSpeed builds its CPU op with a C++ compiler and none was found (install g++ or set CXX)")


@pytest.mark.slow
def test_fresh_output_dir_race(setup, tmp_path):
    """Every rank checked the folder while rank 0 was writing config.yaml: most launches failed with
    'already holds a run'. Repeated 2-process launches into fresh folders all succeed now."""
    from crossalign.precision import bf16_is_native, default_device

    _, _, recipe = setup
    for i in range(4):
        out = tmp_path / f"run{i}"
        proc = launch(recipe, out, 2, "training.max_steps=1", "training.bf16=auto")
        _check(proc)
        assert (out / "model" / "config.json").is_file()
        # `auto` stays as written in the saved config (a GPU re-run resolves it there); its value is in metrics.json
        assert yaml.safe_load((out / "config.yaml").read_text())["training"]["bf16"] == "auto"
        resolved = json.loads((out / "metrics.json").read_text())["resolved_auto"]
        assert resolved == {"training.bf16": bf16_is_native(default_device()), "model.attn_implementation": "sdpa",
                            "objectives.lm_loss": "full"}  # the tiny model: sdpa, and a small vocabulary
    # A second launch into a finished run is refused on every rank (one line per rank that gets to print it), and changes nothing.
    before = sorted(p.name for p in out.iterdir())
    proc = launch(recipe, out, 2, "training.max_steps=1")
    errors = [line for line in proc.stderr.splitlines() if line.startswith("crossalign train: error: output_dir")]
    # torchrun stops the other rank as soon as one exits, so one or two ranks print the line
    assert proc.returncode != 0 and errors and "already holds a run" in errors[0], proc.stderr[-3000:]
    assert "/crossalign/" not in proc.stderr  # no traceback from our code (torchrun prints its own summary)
    assert sorted(p.name for p in out.iterdir()) == before


@pytest.mark.slow
@pytest.mark.numerics
@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
@pytest.mark.parametrize("engine", list(ENGINES))
def test_two_processes_through_the_cli_equal_one(engine, lora, setup, tmp_path, request):
    if engine.startswith("zero"):
        _needs_deepspeed()
    # after the skip: no reference runs for a skipped test
    reference, initial = request.getfixturevalue("reference"), request.getfixturevalue("initial")
    _, model_dir, recipe = setup
    out = tmp_path / "run"
    proc = launch(recipe, out, 2, f"model.lora={str(lora).lower()}", *ENGINES[engine], force_fsdp=engine == "fsdp")
    _check(proc)
    ref = reference[lora]
    metrics = json.loads((out / "metrics.json").read_text())
    par = metrics["parallelism"]
    assert par["num_processes"] == 2
    if engine == "ddp":
        assert par["distributed_type"] == "MULTI_CPU"
    elif engine.startswith("zero"):
        assert par["distributed_type"] == "DEEPSPEED" and par["zero_stage"] == int(engine[-1])
    else:  # really FSDP 2, one unit per decoder layer (plus the root), not the root alone
        assert par["distributed_type"] == "FSDP" and par["fsdp_version"] == 2, par
        layers = [u for u in par["fsdp_units"] if u.split(".")[-2:-1] == ["layers"]]
        assert len(layers) == 2 and "<root>" in par["fsdp_units"], par["fsdp_units"]
    assert metrics["model"]["parameters"] == json.loads((ref / "metrics.json").read_text())["model"]["parameters"]
    assert len(losses(ref)) == 2
    assert mismatches(out, ref, initial[lora]) == []
    update = _weights(ref / "model")["model.layers.0.mlp.gate_proj.weight"] - initial[lora]["model"]["model.layers.0.mlp.gate_proj.weight"]
    assert float(update.abs().max()) > 0  # the steps really moved the (merged) weights
    if lora:
        # the merged model is the base plus exactly the saved adapter: one machine, the same merge arithmetic
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        merged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), out / "adapter").merge_and_unload()
        _assert_close(_weights(out / "model"), merged.state_dict(), f"{engine} adapter merged", atol=1e-6)
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")], "temporary folders left behind"


@pytest.mark.slow
@pytest.mark.numerics
@pytest.mark.parametrize("engine,bug", [("ddp", "no-grad-average"), ("ddp", "drop-rank-batch"), ("ddp", "no-gather"),
                                        ("zero2", "drop-rank-batch")])
def test_planted_data_parallel_bugs_fail_the_equality_check(engine, bug, setup, tmp_path, request):
    """The check above has teeth: a launch with a known data-parallel bug is told apart from one process by its
    updates, far beyond the rounding tolerance."""
    if engine.startswith("zero"):
        _needs_deepspeed()
    reference, initial = request.getfixturevalue("reference"), request.getfixturevalue("initial")
    _, _, recipe = setup
    out = tmp_path / "run"
    overrides = ["objectives.gather_across_devices=false"] if bug == "no-gather" else []
    _check(launch(recipe, out, 2, "model.lora=false", *ENGINES[engine], *overrides,
                  planted_bug=None if bug == "no-gather" else bug))
    found = mismatches(out, reference[False], initial[False])
    updates = [m for m in found if m.what.startswith("model ")]
    assert len(updates) >= 3, found
    # far beyond rounding: the worst tensor's update is off by more than 10x its tolerance
    assert max(m.difference / m.tolerance for m in updates) > 10, found


def test_fsdp_in_one_process_is_refused_before_loading(setup, tmp_path):
    from crossalign.cli import main

    _, _, recipe = setup
    out = tmp_path / "run"
    assert main(["train", str(recipe), f"output_dir={out}", *ENGINES["fsdp"]]) == 2
    assert not out.exists()


@pytest.mark.slow
def test_fsdp_that_accelerate_drops_is_an_error(setup, tmp_path):
    """On CPU Accelerate drops the FSDP plugin and would train plain DDP, exit 0: refused instead."""
    _, _, recipe = setup
    out = tmp_path / "run"
    proc = launch(recipe, out, 2, *ENGINES["fsdp"])
    assert proc.returncode != 0, proc.stderr[-3000:]
    assert "training.fsdp is set but Accelerate did not enable FSDP" in proc.stderr and "/crossalign/" not in proc.stderr
    assert not out.exists()


def test_auto_is_kept_in_the_config_and_resolved_for_the_trainer(tmp_path):
    from crossalign.config import load_config, to_dict
    from crossalign.precision import bf16_is_native, default_device
    from crossalign.training.config import TrainConfig, resolve_auto, stage_configs, training_kwargs

    base = {"output_dir": str(tmp_path), "stages": [{"name": "a"}, {"name": "b", "training": {"max_steps": 3}}]}
    cfg = load_config(TrainConfig, None, ["training.bf16=auto"], base=base)
    assert cfg.training["bf16"] == "auto" and to_dict(cfg)["training"]["bf16"] == "auto"
    native = bf16_is_native(default_device())
    for _, scfg in stage_configs(cfg):
        assert scfg.training["bf16"] == "auto"
        assert training_kwargs(scfg)["bf16"] is native
    assert resolve_auto(cfg.training) == {"bf16": native}
    cfg = load_config(TrainConfig, None, [f"output_dir={tmp_path}", "training.bf16=true"])
    assert cfg.training["bf16"] is True and resolve_auto(cfg.training) == {}


@pytest.mark.slow
def test_training_data_is_prepared_once_per_launch(setup, tmp_path, monkeypatch):
    """Rank 0 prepares the texts, contamination guard and tokens first and caches them; rank 1 then reads them."""
    _, _, recipe = setup
    monkeypatch.setenv("CROSSALIGN_CACHE", str(tmp_path / "cache"))
    proc = launch(recipe, tmp_path / "run", 2, "training.max_steps=1")
    _check(proc)
    assert proc.stderr.count("training data cached (entry") == 1, proc.stderr[-3000:]
    assert proc.stderr.count("training data read from the cache") == 1, proc.stderr[-3000:]
