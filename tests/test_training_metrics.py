"""training/metrics.py: a stage's metrics.json as typed figures, and a two-stage run combined."""

from crossalign.training.metrics import TrainingFigures


def _metrics(steps, wall, speeds, memory, layer=11):
    history = [{"loss": 2.0 + i, "loss_lm": 1.5, "loss_contrastive": 0.5 + i, "tokens_seen": 100 * (i + 1),
                "tokens_per_second": s, "peak_memory_gb": m, "step": i + 1} for i, (s, m) in enumerate(zip(speeds, memory))]
    return {"global_step": steps, "wall_seconds": wall, "layer": layer, "train": {"train_loss": 2.4},
            "data": {"pairs": 7}, "resolved_auto": {"training.bf16": True}, "log_history": history + [{"train_runtime": wall}]}


def test_figures_of_one_stage():
    f = TrainingFigures.from_metrics(_metrics(10, 50.0, [100, 200, 600], [1.0, 3.0, 2.0]))
    assert (f.steps, f.wall_seconds, f.layer, f.train_loss, f.tokens_seen) == (10, 50.0, 11, 2.4, 300)
    assert f.final_loss == 4.0 and f.final_losses == {"lm": 1.5, "contrastive": 2.5}
    assert f.tokens_per_second == 300.0 and f.tokens_per_second_median == 200 and f.peak_memory_gb == 3.0
    assert f.data == {"pairs": 7} and f.resolved_auto == {"training.bf16": True}
    empty = TrainingFigures.from_metrics({"global_step": 0, "wall_seconds": 1.0})
    assert empty.tokens_per_second is None and empty.peak_memory_gb is None and empty.final_losses == {}


def test_two_stages_combine_into_one_run():
    a = TrainingFigures.from_metrics(_metrics(4, 10.0, [100, 300], [2.0, 2.5], layer=9))
    b = TrainingFigures.from_metrics(_metrics(2, 5.0, [500], [4.0], layer="auto"))
    both = TrainingFigures.combine([a, b])
    assert (both.steps, both.wall_seconds, both.layer, both.peak_memory_gb) == (6, 15.0, 9, 4.0)
    assert both.tokens_per_second_median == 300 and len(both.log_history) == len(a.log_history) + len(b.log_history)
