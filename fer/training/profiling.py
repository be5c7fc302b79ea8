"""``fer.train --profile N``: the op profiler (:mod:`minigrad.profiler`) over N training steps.

The steps profiled are the first epoch's 2nd to (N+1)th (the first is left out: it may still
compile kernels); the block runs from the first one's forward pass to the last one's update, so
the data loading between steps counts in its wall time but in no op.  When the last one ends,
the op table is printed (and written to ``profile.txt``) and the Chrome trace written to
``trace.json`` in the run folder (open it in https://ui.perfetto.dev).  Training then goes on.
"""
from minigrad import profiler


class StepProfiler:
    """``start(step)`` before a step's forward pass and ``stop(step)`` after its update."""

    def __init__(self, steps: int, steps_per_epoch: int, run_dir, log=print):
        self.steps, self.run_dir, self.log = steps, run_dir, log
        self.first = 1 if steps_per_epoch > steps else 0
        self.last = min(self.first + steps, steps_per_epoch) - 1
        self.block = self.profile = None

    def start(self, step: int) -> None:
        if self.steps and step == self.first and self.profile is None:
            self.block = profiler.profile()
            self.profile = self.block.__enter__()

    def stop(self, step: int) -> None:
        if self.block is None or step != self.last:
            return
        self.block.__exit__(None, None, None)
        self.block, self.steps = None, 0  # once a run
        table = self.profile.table(sort_by="total")
        steps = self.last - self.first + 1
        title = f"op profile of {steps} training step{'s' * (steps > 1)} (steps {self.first + 1}-{self.last + 1})"
        (self.run_dir / "profile.txt").write_text(f"{title}\n{table}\n")
        self.profile.export_chrome_trace(self.run_dir / "trace.json")
        self.log(f"{title}:\n{table}\nwritten to {self.run_dir / 'profile.txt'} and "
                 f"{self.run_dir / 'trace.json'} (open in https://ui.perfetto.dev)")
