"""A two-step Luigi pipeline: `train.py` requires `prepare.py`.

Run it twice: the second build finds both runs done and runs nothing. The
train run records the prepare run it used (flag `operation:prepare.py`), so
a new size prepares that size and trains again:

    python pipeline.py            # or: python pipeline.py --lr 0.2
    python pipeline.py --size 50  # prepares 50 samples, trains on them
"""

from __future__ import annotations

import argparse
import os

import luigi

from luigi_guild.tasks import OperationTask

HERE = os.path.dirname(os.path.abspath(__file__))


class Train(OperationTask):
    """train.py, after a prepare.py run with the given size."""

    size = luigi.IntParameter(default=10)

    def requires(self):
        return OperationTask.of("prepare.py", {"size": self.size}, project_dir=HERE)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--size", type=int, default=10)
    args = p.parse_args()
    task = Train.of("train.py", {"lr": args.lr}, project_dir=HERE, size=args.size)
    ok = luigi.build([task], local_scheduler=True, log_level="WARNING")
    for step in (task.requires(), task):
        run = step.output().latest()
        if run is None:
            print("%s: no completed run" % step.operation)
            continue
        how = "ran now" if step.last_run is not None else "already done"
        print("%s: run %s (%s), %s" % (step.operation, run.short_id, run.label, how))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
