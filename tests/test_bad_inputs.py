"""Every command, many bad inputs: one line naming the problem and the fix, exit code 2, no traceback,
and nothing the user wrote is changed. Each case is (id, argv template, text the message must contain)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from crossalign.cli import main
from test_train_recipe import _recipe


def _snapshot(root: Path) -> dict[str, str]:
    """Every file (its hash) and folder below `root`: a new empty folder counts as a change too."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder"
            for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def ws(tmp_path_factory, tiny_gemma_dir):
    """A workspace of good and bad inputs, built once."""
    root = tmp_path_factory.mktemp("bad_inputs")
    recipe = _recipe(root, tiny_gemma_dir)  # writes pairs.tsv, instructions.jsonl, recipe.yaml
    cfg = yaml.safe_load(recipe.read_text())

    def variant(name, **data):
        c = json.loads(json.dumps(cfg))
        c["data"].update(data)
        c["output_dir"] = str(root / f"out-{name}")
        p = root / f"{name}.yaml"
        p.write_text(yaml.safe_dump(c))
        return p

    (root / "x.src").write_text("one\ntwo\nthree\n")
    (root / "x.tgt").write_text("eins\nzwei\n")
    (root / "e.src").write_text("one\ntwo\n")
    (root / "e.tgt").write_text("eins\n\n")
    (root / "bin.src").write_bytes(b"one\n\xff\xfe\x00two\n")
    (root / "bin.tgt").write_text("eins\nzwei\n")
    variant("misaligned", parallel=[str(root / "x.src")])
    variant("emptyline", parallel=[str(root / "e.src")])
    variant("binary", parallel=[str(root / "bin.src")])
    variant("missingfile", parallel=[str(root / "nope.tsv")])
    variant("badlang", languages=["xx"])
    (root / "broken.yaml").write_text("model: [unclosed\n")
    (root / "nomodel").mkdir()
    (root / "nomodel" / "notes.txt").write_text("not a model")
    (root / "orphan_adapter").mkdir()
    (root / "orphan_adapter" / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "base_model_name_or_path": str(root / "gone"), "task_type": "CAUSAL_LM", "r": 4, "target_modules": ["q_proj"]}))
    run = root / "existing_run"
    run.mkdir()
    (run / "config.yaml").write_text("recipe: old\n")
    (run / "model.txt").write_text("precious")
    (root / "not_results.json").write_text("[1, 2, 3]")
    (root / "garbage.json").write_bytes(b"\x00\x01 not json")
    other = root / "other_files"
    other.mkdir()
    (other / "thesis.tex").write_text("keep me")
    return {"root": root, "recipe": recipe, "model": tiny_gemma_dir}


# (id, argv with {root}/{recipe}/{model} placeholders, expected fragment of the message)
CASES = [
    ("train: recipe file missing", ["train", "{root}/missing.yaml"], "not found"),
    ("train: unknown recipe name", ["train", "afpp"], "unknown recipe"),
    ("train: YAML syntax error", ["train", "{root}/broken.yaml"], "not valid YAML"),
    ("train: missing required key", ["train", "afp-cpu", "output_dir=null"], "output_dir"),
    ("train: misspelt key", ["train", "{recipe}", "objectives.temprature=0.1"], "did you mean 'temperature'"),
    ("train: misspelt Trainer key", ["train", "{recipe}", "training.lerning_rate=1"], "did you mean 'learning_rate'"),
    ("train: wrong type", ["train", "{recipe}", "training.max_steps=many"], "not an integer"),
    ("train: bool of wrong type", ["train", "{recipe}", "model.lora=maybe"], "not a boolean"),
    ("train: override without =", ["train", "{recipe}", "training.max_steps"], "key=value"),
    ("train: list index out of range", ["train", "afp-cpu", "stages.3.name=x"], "not an index"),
    ("train: KL term without LoRA", ["train", "afp-cpu", "model.lora=false"], "kl_weight needs model.lora=true"),
    ("train: layer not a number", ["train", "{recipe}", "objectives.layer=top"], "whole number, 'auto' or 'middle'"),
    ("train: layer outside the model", ["train", "{recipe}", "objectives.layer=12"], "outside the model"),
    ("train: negative weight", ["train", "{recipe}", "objectives.lm_weight=-1"], ">= 0"),
    ("train: zero temperature", ["train", "{recipe}", "objectives.temperature=0"], "temperature"),
    ("train: every weight zero", ["train", "{recipe}", "objectives.lm_weight=0", "objectives.contrastive_weight=0"], "every objective weight is 0"),
    ("train: unknown pooling", ["train", "{recipe}", "objectives.pooling=max"], "not one of"),
    ("train: alternate schedule without pairs", ["train", "{recipe}", "objectives.schedule=alternate",
                                                 "objectives.contrastive_input=spans"], "schedule=alternate takes turns"),
    ("train: unknown language code", ["train", "{root}/badlang.yaml"], "unknown language code 'xx'"),
    ("train: parallel files of different lengths", ["train", "{root}/misaligned.yaml"], "x.tgt"),
    ("train: empty line on one side", ["train", "{root}/emptyline.yaml"], "line 2"),
    ("train: undecodable bytes", ["train", "{root}/binary.yaml"], "bin.src"),
    ("train: parallel file missing", ["train", "{root}/missingfile.yaml"], "nope.tsv"),
    ("train: model folder that is not a model", ["train", "{recipe}", "model.name={root}/nomodel"], "nomodel"),
    ("train: adapter without its base", ["train", "{recipe}", "model.name={root}/orphan_adapter"], "base"),
    ("train: output folder holds a run", ["train", "{recipe}", "output_dir={root}/existing_run"], "--overwrite"),
    ("train: --overwrite on non-run files", ["train", "{recipe}", "output_dir={root}/other_files", "--overwrite"], "not a crossalign run"),
    ("train: --resume without a run", ["train", "{recipe}", "output_dir={root}/other_files", "--resume"], "no crossalign run"),
    ("train: contrastive batch of one", ["train", "{recipe}", "output_dir={root}/out-b1", "training.per_device_train_batch_size=1"], "at least 2"),
    ("train: FSDP in one process", ["train", "{recipe}", "training.fsdp=full_shard"], "several processes"),
    ("train: unknown Trainer value", ["train", "{recipe}", "training.lr_scheduler_type=wobbly"], "training"),
    ("train: push_to_hub without hub_model_id", ["train", "{recipe}", "training.push_to_hub=true"], "training.hub_model_id is missing"),
    ("train: hub_model_id not user/name", ["train", "{recipe}", "training.push_to_hub=true", "training.hub_model_id=me/a/b"], "user/name"),
    ("push: folder missing", ["push", "{root}/no_run", "me/model"], "not a folder"),
    ("push: folder without a model", ["push", "{root}/existing_run", "me/model"], "no saved model/ or adapter/"),
    ("eval: unknown task", ["eval", "--model", "{model}", "--tasks", "xcopaa", "--output", "{root}/e1.json"], "xcopaa"),
    ("eval: language not in task", ["eval", "--model", "{model}", "--tasks", "xcopa", "--langs", "de", "--output", "{root}/e2.json"], "de"),
    ("eval: unknown language code", ["eval", "--model", "{model}", "--tasks", "xcopa", "--langs", "xx", "--output", "{root}/e3.json"], "xx"),
    ("eval: split that does not exist", ["eval", "--model", "{model}", "--tasks", "xcopa", "--split", "validation2", "--output", "{root}/e4.json"], "validation2"),
    ("eval: model folder that is not a model", ["eval", "--model", "{root}/nomodel", "--tasks", "xcopa", "--output", "{root}/e5.json"], "nomodel"),
    ("eval: bad shots", ["eval", "--model", "{model}", "--tasks", "xcopa", "--shots", "five", "--output", "{root}/e6.json"], "shots"),
    ("export-lm-eval: not a multiple-choice task", ["export-lm-eval", "--tasks", "flores", "--langs", "sw", "--output", "{root}/x1"], "multiple-choice"),
    ("export-lm-eval: output holds files", ["export-lm-eval", "--tasks", "xcopa", "--output", "{root}/other_files"], "--overwrite"),
    ("analyze: language missing from data", ["analyze", "--model", "{model}", "--langs", "zul,xho", "--data", "flores200:dev", "--output", "{root}/a1"], "xho"),
    ("analyze: limit larger than data", ["analyze", "--model", "{model}", "--langs", "deu", "--limit", "5000", "--data", "flores200:dev", "--output", "{root}/a2"], "5000"),
    ("analyze: pivot not in data", ["analyze", "--model", "{model}", "--langs", "deu", "--pivot", "xho", "--data", "flores200:dev", "--output", "{root}/a3"], "xho"),
    ("analyze: layer beyond the model", ["analyze", "--model", "{model}", "--langs", "deu", "--layers", "1,40", "--limit", "4", "--data", "flores200:dev", "--output", "{root}/a4"], "40"),
    ("analyze: output holds files", ["analyze", "--model", "{model}", "--langs", "deu", "--limit", "4", "--data", "flores200:dev", "--output", "{root}/other_files"], "--overwrite"),
    ("analyze: compare folders missing", ["analyze", "--compare", "{root}/nope1", "{root}/nope2", "--output", "{root}/a5"], "nope1"),
    ("compare: results file missing", ["compare", "{root}/nope.json", "{root}/nope2.json"], "nope.json"),
    ("compare: not a results file", ["compare", "{root}/not_results.json", "{root}/garbage.json"], "results"),
    ("demo: output holds other files", ["demo", "--model", "{model}", "--output", "{root}/other_files", "--overwrite"], "not a crossalign demo"),
    ("demo: unknown language", ["demo", "--model", "{model}", "--langs", "deu,xx", "--output", "{root}/d1"], "'xx'"),
    ("merge: adapter folder missing", ["merge", "{root}/no_adapter", "{root}/merged"], "no_adapter"),
    ("merge: adapter without its base", ["merge", "{root}/orphan_adapter", "{root}/merged2"], "base"),
    # outputs that cannot be created: refused before any model loads
    ("train: output_dir under /proc", ["train", "{recipe}", "output_dir=/proc/crossalign-x"], "cannot write output_dir"),
    ("train: output_dir under a file", ["train", "{recipe}", "output_dir={root}/garbage.json/run"], "not a folder"),
    ("analyze: output under /proc", ["analyze", "--model", "{model}", "--langs", "deu", "--limit", "4", "--data", "flores200:dev", "--output", "/proc/crossalign-x"], "cannot write --output"),
    ("analyze: output is a file", ["analyze", "--model", "{model}", "--langs", "deu", "--limit", "4", "--data", "flores200:dev", "--output", "{root}/garbage.json"], "cannot write --output"),
    ("demo: output under /proc", ["demo", "--model", "{model}", "--output", "/proc/crossalign-x"], "cannot write --output"),
    ("merge: output under /proc", ["merge", "{root}/orphan_adapter", "/proc/crossalign-x"], "cannot write output folder"),
    ("compare: --json under /proc", ["compare", "{root}/nope.json", "{root}/nope2.json", "--json", "/proc/crossalign-x.json"], "cannot write --json"),
    ("compare: --markdown is a folder", ["compare", "{root}/nope.json", "{root}/nope2.json", "--markdown", "{root}/other_files"], "cannot write --markdown"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line(case, ws, capsys, shared_data, monkeypatch, tmp_path):
    monkeypatch.setenv("CROSSALIGN_DATA", str(shared_data))
    monkeypatch.chdir(tmp_path)  # an empty working directory, which must stay empty
    _, argv, expected = case
    argv = [a.format(root=ws["root"], recipe=ws["recipe"], model=ws["model"]) for a in argv]
    before = _snapshot(ws["root"])
    assert main(argv) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip() and "%|" not in line and "Warning" not in line and "warn" not in line]
    message = err[-1] if err else ""
    assert "Traceback" not in "\n".join(err)
    assert message.startswith("crossalign"), err
    assert expected.lower() in message.lower(), message
    # the workspace is the parent of every output named above: nothing changed, nothing added
    assert _snapshot(ws["root"]) == before, "a file or folder was changed or left behind"
    assert not any(tmp_path.iterdir()), "the working directory gained files"


# `eval` with a model that does not exist (its --output defaults to ./eval_results.json) or an --output that
# cannot be written: refused before any work, and neither the working directory nor the output's folder
# gains a file (no stray eval_results.predictions.jsonl).
EVAL_LEAVES_NOTHING = [
    ("eval: model that does not exist", ["eval", "--model", "{root}/nonexistent", "--tasks", "xcopa"], "nonexistent",
     "eval_results.json"),
    ("eval: output under /proc", ["eval", "--model", "{model}", "--tasks", "xcopa", "--langs", "sw", "--limit", "1",
                                  "--output", "/proc/x.json"], "cannot write --output", "/proc/x.json"),
    ("eval: output under a file", ["eval", "--model", "{model}", "--tasks", "xcopa", "--langs", "sw", "--limit", "1",
                                   "--output", "{root}/cwd/afile/sub/x.json"], "cannot write --output", "{root}/cwd/afile/sub/x.json"),
]


@pytest.mark.parametrize("case", EVAL_LEAVES_NOTHING, ids=[c[0] for c in EVAL_LEAVES_NOTHING])
def test_eval_bad_model_or_output_leaves_no_file(case, ws, capsys, shared_data, monkeypatch):
    _, argv, expected, output = case
    cwd = ws["root"] / "cwd"
    cwd.mkdir(exist_ok=True)
    (cwd / "afile").write_text("not a folder")
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("CROSSALIGN_DATA", str(shared_data))
    argv = [a.format(root=ws["root"], model=ws["model"]) for a in argv]
    output = Path(output.format(root=ws["root"])).absolute()
    parent = next(p for p in output.parents if p.is_dir())  # the folder the output would have been made in
    listing = (lambda: sorted(p.name for p in parent.iterdir())) if parent != Path("/proc") else (
        lambda: sorted(p.name for p in parent.iterdir() if not p.name.isdigit()))  # /proc: not its process folders
    before_cwd, before_parent = _snapshot(cwd), listing()
    assert main(argv) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("crossalign eval: error:") and expected in err[0], err
    assert _snapshot(cwd) == before_cwd and listing() == before_parent
    for p in (output, output.with_suffix(".predictions.jsonl"), output.with_suffix(".md")):
        assert not p.exists(), p


def test_case_count():
    assert len(CASES) >= 30


# The train cases a config alone decides (no model, data or output folder read): refused with `--dry-run` too,
# so a user checking a config before a long run sees the error then, not after the model has loaded.
CONFIG_ONLY = ["train: recipe file missing", "train: unknown recipe name", "train: YAML syntax error",
               "train: missing required key", "train: misspelt key", "train: misspelt Trainer key", "train: wrong type",
               "train: bool of wrong type", "train: override without =", "train: list index out of range",
               "train: KL term without LoRA", "train: layer not a number", "train: negative weight",
               "train: zero temperature", "train: every weight zero", "train: unknown pooling",
               "train: alternate schedule without pairs", "train: unknown language code",
               "train: contrastive batch of one", "train: FSDP in one process", "train: unknown Trainer value",
               "train: push_to_hub without hub_model_id", "train: hub_model_id not user/name"]
DRY_RUN_CASES = [c for c in CASES if c[0] in CONFIG_ONLY] + [
    ("train: unknown language in an override", ["train", "afp-cpu", "data.languages=[xxx_Zzzz]"], "'xxx_zzzz'"),
    ("train: unknown pivot", ["train", "afp-cpu", "data.pivot=elvish"], "'elvish'"),
]


def test_dry_run_cases_are_the_config_only_ones():
    assert len(DRY_RUN_CASES) == len(CONFIG_ONLY) + 2  # a renamed case fails here instead of dropping out


@pytest.mark.parametrize("case", DRY_RUN_CASES, ids=[c[0] for c in DRY_RUN_CASES])
def test_config_errors_are_caught_by_dry_run(case, ws, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    _, argv, expected = case
    argv = [a.format(root=ws["root"], recipe=ws["recipe"], model=ws["model"]) for a in argv]
    assert main([*argv, "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected.lower() in err[0].lower(), err
    assert not any(tmp_path.iterdir())


def test_options_and_overrides_mix_in_any_order(capsys):
    """`--dry-run` before, between or after the key=value overrides (argparse's intermixed parsing)."""
    for argv in (["train", "afp-cpu", "--dry-run", "data.languages=[deu]", "training.max_steps=7"],
                 ["train", "afp-cpu", "data.languages=[deu]", "--dry-run", "training.max_steps=7"],
                 ["train", "--dry-run", "afp-cpu", "data.languages=[deu]", "training.max_steps=7"]):
        assert main(argv) == 0, argv
        printed = yaml.safe_load(capsys.readouterr().out)
        assert printed["data"]["languages"] == ["deu"] and printed["training"]["max_steps"] == 7


def test_contrastive_batch_of_one_is_allowed_across_processes(monkeypatch, capsys):
    """Two processes gather each other's pair, so batch 1 per process is 2 pairs; without the gather it is 1."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["train", "contrastive-cpu", "training.per_device_train_batch_size=1", "--dry-run"]) == 0
    capsys.readouterr()
    assert main(["train", "contrastive-cpu", "training.per_device_train_batch_size=1",
                 "objectives.gather_across_devices=false", "--dry-run"]) == 2
    assert "at least 2 pairs" in capsys.readouterr().err
