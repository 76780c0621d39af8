"""`crossalign demo` end to end in a tiny mode (tiny random model, a few steps and items), so CI covers its path."""

import json

import pytest

from crossalign.cli import main


@pytest.mark.slow
def test_demo_tiny_mode_writes_the_report(tmp_path, tiny_gemma_dir, shared_data):
    out = tmp_path / "demo"
    argv = ["demo", "--model", str(tiny_gemma_dir), "--data-dir", str(shared_data), "--output", str(out),
            "--langs", "deu,swh", "--train-langs", "deu,swh,est", "--train-steps", "2", "--layer", "1",
            "--analysis-limit", "8", "--eval-limit", "3", "--mt-limit", "3",
            "--set", "data.max_pairs_per_language=20", "--set", "training.per_device_train_batch_size=4",
            "--set", "data.max_length=512"]
    assert main(argv) == 0
    report = (out / "REPORT.md").read_text()
    assert "FLORES dev bitext retrieval" in report and "| swh_Latn |" in report
    assert "| language | raw | centered | global | per-language |" in report and "paired 95% interval" in report
    mean = next(ln for ln in report.splitlines() if ln.startswith("| **mean** |"))
    assert mean.count(" -> ") == 4 and mean.count("[") == 4  # every geometry's change with its paired interval
    assert "xcopa" in report and "xstorycloze" in report and "| xcopa | **average** |" in report
    assert "## Translation: what a user gets" in report
    assert "| eng-swh |" in report and "| swh-eng |" in report and "off-target %" in report
    assert "- English -> Swahili: the aligned model writes Swahili in" in report
    assert (out / "afp" / "model" / "config.json").is_file()
    assert (out / "analysis-compare").is_dir() and any((out / "analysis-compare").glob("*.png"))
    meta = json.loads((out / "demo.json").read_text())
    assert meta["layer"] == 1 and len(meta["commands"]) == 4 and "Layer 1 was set by --layer." in report
    # the report rebuilds from the folder's files alone, figure for figure (what docs/demo commits)
    (out / "REPORT.md").unlink()
    assert main(["demo", "--output", str(out), "--report-only"]) == 0
    assert (out / "REPORT.md").read_text() == report
    assert main(["demo", "--output", str(tmp_path / "nowhere"), "--report-only"]) == 2
    # a second demo into the same folder needs --overwrite, which replaces only a demo folder
    assert main(argv) == 2
    auto = [("auto" if a == "1" and argv[i - 1] == "--layer" else a) for i, a in enumerate(argv)]
    assert main(auto + ["--overwrite"]) == 0
    report = (out / "REPORT.md").read_text()
    assert "was set by layer=auto: best FLORES-dev retrieval in the global geometry" in report  # afp-cpu: standardized


def test_recorded_commands_are_what_the_library_calls_ran():
    """demo.json's commands, rebuilt by `command_line` from a library call's options, parse back into the same
    analysis config (so rerunning a recorded command redoes that step)."""
    import argparse

    from crossalign.analysis import cli as analysis_cli
    from crossalign.analysis.run import analysis_config
    from crossalign.cli import command_line

    options = {"model": "m", "output": "out/a", "data": "flores200:dev", "langs": ["deu_Latn", "swh_Latn"], "limit": 8,
               "stats": "holdout", "stats_limit": 50, "bf16": True, "data_dir": None}
    argv = command_line("analyze", options)
    assert argv == ["analyze", "--model", "m", "--output", "out/a", "--data", "flores200:dev", "--langs", "deu_Latn,swh_Latn",
                    "--limit", "8", "--stats", "holdout", "--stats-limit", "50", "--bf16"]
    parser = argparse.ArgumentParser()
    analysis_cli.add_arguments(parser)

    def parsed(argv):  # what `crossalign analyze ARGV` builds its config from
        return {k: v for k, v in vars(parser.parse_args(argv[1:])).items() if k not in ("overwrite", "no_cache")}

    assert analysis_config(**parsed(argv)) == analysis_config(**options)
    compare = {"compare": ("out/a", "out/b"), "output": "out/c"}
    assert command_line("analyze", compare) == ["analyze", "--compare", "out/a", "out/b", "--output", "out/c"]
    assert analysis_config(**parsed(command_line("analyze", compare))) == analysis_config(**compare)


def test_the_committed_demo_report_reproduces_from_its_files(tmp_path):
    """docs/demo (a real `crossalign demo` folder without weights and embedding cells): `--report-only` rebuilds its
    REPORT.md character for character from the committed files."""
    import shutil

    from conftest import REPO

    committed = REPO / "docs" / "demo"
    out = tmp_path / "demo"
    shutil.copytree(committed, out)
    (out / "REPORT.md").unlink()
    assert main(["demo", "--output", str(out), "--report-only"]) == 0
    assert (out / "REPORT.md").read_text() == (committed / "REPORT.md").read_text()
