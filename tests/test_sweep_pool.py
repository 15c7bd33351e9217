"""The ``pool`` executor: a local sweep's trials run from threads of the ``guild run`` process."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import pytest

from luigi_guild.model.errors import GuildError
from luigi_guild.run import executors, pipeline
from luigi_guild.run.plan import plan_new
from pipelines_fixtures import guild_env

SCRIPT = "import os\nimport time\nx = 0\ntime.sleep(0.3)\nprint('x=%s ppid=%d' % (x, os.getppid()))\nprint('loss: %s' % x)\n"


@pytest.fixture
def proj(tmp_path, monkeypatch):
    p = tmp_path / "proj"
    p.mkdir()
    (p / "t.py").write_text(SCRIPT)
    monkeypatch.setenv("GUILD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NO_VCS_COMMIT", "1")
    return p


@pytest.mark.parametrize("launcher", ["1", "0"])
def test_cli_workers_start_trials_from_the_guild_process(proj, tmp_path, launcher):
    """No worker process is forked per trial: every trial's parent is ``guild run`` itself, or
    (the default) the one trial launcher that ``guild run`` started for all its trials."""
    import psutil

    proc = subprocess.Popen(
        [sys.executable, "-m", "luigi_guild", "run", "t.py", "x=[1,2,3,4]", "--workers", "2", "-y"],
        cwd=proj, env=dict(guild_env(str(tmp_path / "home")), LUIGI_GUILD_LAUNCHER=launcher),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    parents = set()
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("x="):
            ppid = int(line.split("ppid=")[1])
            parents.add(ppid)
            if ppid != proc.pid:  # the launcher: a child of guild run, alive while the sweep runs
                assert psutil.Process(ppid).ppid() == proc.pid
    out = "".join(lines)
    assert proc.wait(timeout=120) == 0, out
    assert sorted(line.split()[0] for line in lines if line.startswith("x=")) == ["x=1", "x=2", "x=3", "x=4"], out
    assert len(parents) == 1, out
    assert (parents == {proc.pid}) == (launcher == "0"), out
    assert out.count("Running trial") == 4


def _job(proj, x: int, **opts) -> executors.Job:
    plan = plan_new("t.py", cwd=str(proj), values={"x": x})
    return executors.Job(plan=plan, opts=pipeline.RunOptions(echo=False, **opts))


def test_pool_runs_all_jobs_in_parallel_and_a_failed_start_does_not_stop_the_others(proj, capfd):
    def refuse(plan):
        raise GuildError("no room for x=%s" % plan.flags["x"], hint="Free some space.")

    jobs = [_job(proj, 1), _job(proj, 2, prepare=refuse), _job(proj, 3), _job(proj, 4)]
    outcomes = executors.PoolExecutor(workers=2).execute(jobs)
    assert sorted(o.run.flags["x"] for o in outcomes) == [1, 3, 4]
    assert all(o.ok for o in outcomes)
    spans = sorted((o.run.get("started"), o.run.get("stopped")) for o in outcomes)
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:])), "no two runs overlapped"
    err = capfd.readouterr().err
    assert "WARNING: [guild] no room for x=2\nWARNING: [guild] Free some space.\n" in err
    # the scalar each run printed was captured (threads share one event-file writer module)
    for o in outcomes:
        assert [n for n in os.listdir(o.run.guild_path()) if ".tfevents." in n], o.run.id


def test_pool_asks_stop_before_each_job(proj):
    done: list[int] = []
    jobs = [replace(_job(proj, x), opts=pipeline.RunOptions(echo=False, on_finished=lambda o: done.append(1)))
            for x in range(6)]
    outcomes = executors.PoolExecutor(workers=2, stop=lambda: len(done) >= 2).execute(jobs)
    assert 2 <= len(outcomes) <= 3  # the two first, and at most one started while the second finished
    assert executors.executor_class("pool") is executors.PoolExecutor


def test_pool_with_one_worker_runs_in_order(proj):
    outcomes = executors.PoolExecutor(workers=1).execute([_job(proj, x) for x in (3, 1, 2)])
    assert [o.run.flags["x"] for o in outcomes] == [3, 1, 2]


def test_pool_takes_each_job_as_a_worker_is_free_and_raises_what_the_jobs_raise(proj):
    """Jobs come from an iterable, each made when a worker takes it: a sweep plans a trial only
    when it can start. An error making a job stops the pool (no job after it starts) and is raised
    once the jobs running have ended."""
    made: list[tuple[int, int]] = []  # (x, jobs finished when it was made)
    done: list[int] = []

    def jobs(fail_at: int | None):
        for x in range(6):
            if x == fail_at:
                raise GuildError("cannot plan x=%d" % x)
            made.append((x, len(done)))
            yield replace(_job(proj, x), opts=pipeline.RunOptions(echo=False, on_finished=lambda o: done.append(1)))

    outcomes = executors.PoolExecutor(workers=2).execute(jobs(None))
    assert [o.run.flags["x"] for o in outcomes] == list(range(6))  # in the iterable's order
    assert made[:2] == [(0, 0), (1, 0)] and all(n >= 1 for _x, n in made[2:]), made  # not all at once

    made.clear()
    done.clear()
    with pytest.raises(GuildError, match="cannot plan x=3"):
        executors.PoolExecutor(workers=2).execute(jobs(3))
    assert [x for x, _n in made] == [0, 1, 2] and len(done) == 3  # those made ran to their end
