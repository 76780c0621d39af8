"""Run `crossalign train ...` and SIGKILL this process at the end of a given step (a crash between checkpoints)."""

import os
import signal
import sys

from transformers import TrainerCallback

from crossalign.training import trainer as trainer_module

KILL_AT = int(sys.argv[1])


class Kill(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == KILL_AT:
            os.kill(os.getpid(), signal.SIGKILL)


_init = trainer_module.AlignmentTrainer.__init__


def _init_with_kill(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.add_callback(Kill())


trainer_module.AlignmentTrainer.__init__ = _init_with_kill

from crossalign.cli import main  # noqa: E402

sys.exit(main(sys.argv[2:]))
