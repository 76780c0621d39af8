"""Test-only: plant a known data-parallel bug in a `crossalign train` launch, so tests/test_launch.py can show that
its 1-vs-2-process equality check fails when the math is wrong. Put this folder first on PYTHONPATH and name the
bug in $CROSSALIGN_PLANTED_BUG:

- `no-grad-average`: DDP never all-reduces: each rank steps with the gradient of its own half of the batch.
- `drop-rank-batch`: rank 1's batch contributes nothing (its loss is multiplied by 0 before backward).

(`negatives not gathered` needs no patch: it is `objectives.gather_across_devices=false`.)
"""

import os

_BUG = os.environ.get("CROSSALIGN_PLANTED_BUG")

if _BUG == "no-grad-average":
    from torch.nn.parallel import DistributedDataParallel

    _forward = DistributedDataParallel.forward

    def _forward_without_sync(self, *args, **kwargs):
        self.require_backward_grad_sync = False  # what `no_sync()` does, on every step
        return _forward(self, *args, **kwargs)

    DistributedDataParallel.forward = _forward_without_sync
elif _BUG == "drop-rank-batch":
    from crossalign.training.trainer import AlignmentTrainer

    _compute_loss = AlignmentTrainer.compute_loss

    def _compute_loss_dropping_rank_1(self, *args, **kwargs):
        out = _compute_loss(self, *args, **kwargs)
        if self.accelerator.process_index != 1:
            return out
        return (out[0] * 0, *out[1:]) if isinstance(out, tuple) else out * 0

    AlignmentTrainer.compute_loss = _compute_loss_dropping_rank_1
elif _BUG:
    raise SystemExit(f"unknown CROSSALIGN_PLANTED_BUG {_BUG!r}")
