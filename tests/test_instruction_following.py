"""Cross-lingual instruction following (`--tasks confusion`): prompts, LCB's line-level judgement, the task on a
tiny model, and its prompts kept out of training data."""

import json

from crossalign.data.sources import hplt_instruct
from crossalign.evaluation.instruction_following import judge_lines, prompt_text

ET = "Eesti on riik Põhja-Euroopas, Läänemere idakaldal. Tallinn on Eesti pealinn ja suurim linn."
EN = "Estonia is a country in Northern Europe on the eastern coast of the Baltic Sea."


def test_prompts_are_read_and_a_damaged_object_is_dropped(shared_data):
    en, dropped_en = hplt_instruct.prompts(shared_data, "en")
    hi, dropped_hi = hplt_instruct.prompts(shared_data, "hin_Deva")
    assert (len(en), dropped_en) == (50, 0)
    assert (len(hi), dropped_hi) == (49, 1)  # one object of the release has a stray quote
    assert {i for i, _ in hi} < {i for i, _ in en}  # the same Open-Assistant items, translated
    assert hplt_instruct.code("nob_Latn") == "no"


def test_forms():
    assert prompt_text("answer-in", "Why is the sky blue?", "sw") == "Why is the sky blue? Answer in Swahili:"
    assert prompt_text("request", "Why?", "et") == "Why?\nPlease answer in Estonian.\n"
    assert prompt_text("native", "Miks?", "et") == "Miks?\n"
    assert prompt_text("answer-in", "Why?", "sw", chat=True) == "Why? Answer in Swahili."


def test_line_level_judgement():
    assert judge_lines(ET, "et") == (True, True)
    assert judge_lines(f"{ET}\n{EN}", "et") == (True, False)  # one English line fails the answer
    assert judge_lines("Jah.\nTere!", "et") == (False, False)  # nothing long enough to judge
    assert judge_lines(f"{ET}\nOK, thanks!", "et") == (True, True)  # a short line is not judged
    assert judge_lines("北京是中国的首都，也是一座历史悠久的城市。", "zh") == (True, True)  # no spaces: characters count


def _eval_args(model, data_dir, out, *options) -> list[str]:
    return ["eval", "--model", str(model), "--data-dir", str(data_dir), "--output", str(out), "--tasks", "confusion",
            "--limit", "2", *options]


def _read(out) -> tuple[dict, list[dict]]:
    """(results file, its predictions) of an eval run."""
    return (json.loads(out.read_text()),
            [json.loads(x) for x in out.with_suffix(".predictions.jsonl").read_text().splitlines()])


def test_the_task_on_a_tiny_model(tiny_gemma_dir, shared_data, tmp_path, monkeypatch):
    from crossalign.cli import main

    monkeypatch.setenv("CROSSALIGN_NO_PROGRESS", "1")
    out = tmp_path / "c.json"
    args = _eval_args(tiny_gemma_dir, shared_data, out, "--langs", "sw,hi", "--protocol", "cross,native", "--max-new-tokens", "6")
    assert main(args) == 0
    data, preds = _read(out)
    keys = sorted(data["cells"])
    assert keys == ["confusion|hin_Deva|test[:2]|0|answer-in|0", "confusion|hin_Deva|test[:2]|0|native|0",
                    "confusion|hin_Deva|test[:2]|0|request|0", "confusion|swh_Latn|test[:2]|0|answer-in|0",
                    "confusion|swh_Latn|test[:2]|0|request|0"]  # Swahili has no human-translated prompts
    rec = data["cells"]["confusion|swh_Latn|test[:2]|0|answer-in|0"]
    assert set(rec["metrics"]) == {"line_pass", "off_target", "in_source", "empty"} and rec["n"] == 2
    p = next(x for x in preds if x["cell"] == "confusion|swh_Latn|test[:2]|0|answer-in|0")
    assert p["prompt"].startswith("My son told me") and {"judged", "passed", "off_target", "lang"} <= set(p)
    assert main(args) == 0  # resumes: nothing to do


def test_the_dev_stand_in_asks_about_flores_dev_sentences(tiny_gemma_dir, shared_data, tmp_path, monkeypatch, capsys):
    from crossalign.cli import main
    from crossalign.data.sources import flores
    from crossalign.evaluation.instruction_following import DEV_TEMPLATES, dev_prompts

    first = flores.read(shared_data, ["eng"], "dev", 5)["eng_Latn"]
    rows = dev_prompts(shared_data, 5)
    assert [i for i, _ in rows] == [f"dev-{i}" for i in range(5)]
    assert rows[0][1] == DEV_TEMPLATES[0].format(s=first[0]) and rows[4][1] == DEV_TEMPLATES[0].format(s=first[4])
    assert rows[1][1].endswith(first[1]) and rows[1][1] != rows[0][1].replace(first[0], first[1])  # templates rotate
    monkeypatch.setenv("CROSSALIGN_NO_PROGRESS", "1")
    out = tmp_path / "d.json"
    assert main(_eval_args(tiny_gemma_dir, shared_data, out, "--langs", "hi", "--max-new-tokens", "4", "--split", "dev")) == 0
    data, preds = _read(out)
    assert sorted(data["cells"]) == ["confusion|hin_Deva|dev[:2]|0|answer-in|0", "confusion|hin_Deva|dev[:2]|0|request|0"]
    assert preds[0]["prompt"] == rows[0][1]
    common = _eval_args(tiny_gemma_dir, shared_data, tmp_path / "bad.json", "--langs", "hi", "--max-new-tokens", "4")
    for bad, why in ((["--split", "dev", "--protocol", "native"], "only the English forms"),
                     (["--split", "train"], "--split dev")):
        assert main([*common, *bad]) == 2
        assert why in capsys.readouterr().err and not (tmp_path / "bad.json").exists()


def test_training_never_sees_the_prompts(shared_data, tmp_path):
    from crossalign.training.config import DataConfig, ObjectiveConfig
    from crossalign.training.data import build_texts

    prompt = hplt_instruct.prompts(shared_data, "en")[0][0][1]
    rows = [{"instruction": prompt, "input": "", "output": "An answer.", "lang": "en", "id": "1"},
            {"instruction": "Name a colour.", "input": "", "output": "Blue.", "lang": "en", "id": "2"}]
    path = tmp_path / "inst.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("eng_Latn\tdeu_Latn\nGood morning, friend.\tGuten Morgen, Freund.\n", encoding="utf-8")
    data = DataConfig(languages=["deu"], parallel=[str(pairs)], instructions=[str(path)], translation_instructions=False,
                      max_pairs_per_language=None)
    texts = build_texts(data, ObjectiveConfig(), 0, shared_data)
    assert texts.dropped["instructions"] == 1
    assert [e.prompt for e in texts.examples] == ["Name a colour. Answer in English:"]
