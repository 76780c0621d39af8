"""Training data is prepared once and cached: a second preparation with the same inputs reads it, a changed input
(a data file, the tokenizer, a data setting) prepares it again, and only the newest entries are kept."""

import pytest

from crossalign.models import load_tokenizer
from crossalign.training import data_cache
from crossalign.training.config import DataConfig, ObjectiveConfig
from crossalign.training.run import setup_data
from test_train_recipe import _write_data


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CROSSALIGN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "training-data"


def _inputs(tmp_path):
    tsv, inst = _write_data(tmp_path)
    data = DataConfig(languages=["deu"], parallel=[str(tsv)], instructions=[str(inst)], exclude_eval_sets=[],
                      max_pairs_per_language=None)
    return tsv, data, ObjectiveConfig(lm_weight=1.5, contrastive_weight=1.0, layer=1)


def _items(dataset):
    return [dataset[i] for i in range(len(dataset))]


def _no_build(*args, **kwargs):
    raise AssertionError("the data was prepared again instead of read from the cache")


def test_second_preparation_reads_the_cache(cache, tmp_path, tiny_gemma_dir, monkeypatch):
    tsv, data, objectives = _inputs(tmp_path)
    tok = load_tokenizer(str(tiny_gemma_dir))
    built, counts = setup_data(data, objectives, 1, tok, None)
    assert len(list(cache.glob("*.json"))) == 1
    assert counts["pairs"] == 8 and counts["pairs_per_corpus"] and counts["sequences"] > 0

    with monkeypatch.context() as m:
        m.setattr("crossalign.training.data.build_texts", _no_build)
        read, read_counts = setup_data(data, objectives, 1, tok, None)
    assert read_counts == counts and vars(read) == vars(built)
    assert _items(read) == _items(built) and read.lengths() == built.lengths()

    # any input that changes the data prepares it again, under a new name
    with tsv.open("a", encoding="utf-8") as f:
        f.write("One more sentence.\tNoch ein Satz.\n")
    assert setup_data(data, objectives, 1, tok, None)[1]["pairs"] == 9
    setup_data(data, objectives, 2, tok, None)  # another seed
    setup_data(DataConfig(**{**vars(data), "max_length": 64}), objectives, 2, tok, None)
    tok.add_tokens(["<new>"])
    setup_data(DataConfig(**{**vars(data), "max_length": 64}), objectives, 2, tok, None)
    assert len(list(cache.glob("*.json"))) == 5


def test_only_the_newest_entries_are_kept(cache, tmp_path, tiny_gemma_dir, monkeypatch):
    monkeypatch.setattr(data_cache, "KEEP", 2)
    _, data, objectives = _inputs(tmp_path)
    tok = load_tokenizer(str(tiny_gemma_dir))
    names = []
    for seed in (1, 2, 3):
        setup_data(data, objectives, seed, tok, None)
        names.append(data_cache.key(data, objectives, seed, tok, None))
    assert sorted(p.stem for p in cache.glob("*.json")) == sorted(names[1:])


def test_an_unwritable_cache_still_trains(tmp_path, tiny_gemma_dir, monkeypatch):
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("CROSSALIGN_CACHE", str(tmp_path / "file"))
    _, data, objectives = _inputs(tmp_path)
    dataset, counts = setup_data(data, objectives, 1, load_tokenizer(str(tiny_gemma_dir)), None)
    assert counts["pairs"] == 8 and len(dataset) > 0
