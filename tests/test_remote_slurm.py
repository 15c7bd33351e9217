"""The ``slurm`` remote kind against a real single-node Slurm cluster (``tests/slurm.py``)."""

from __future__ import annotations

import time

from slurm import SlurmCluster


def _wait_state(cluster: SlurmCluster, job_id: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        res = cluster.command("squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T")
        state = res.stdout.strip()
        if state and state not in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING"):
            return state
        time.sleep(0.2)
    return state


def test_fixture_cluster_runs_a_job(slurm_cluster: SlurmCluster, tmp_path: object) -> None:
    out = "%s/out" % tmp_path
    res = slurm_cluster.command("sbatch", "--parsable", "-o", out, "--wrap", "echo hello from $SLURM_JOB_ID")
    assert res.returncode == 0, res.stderr
    job_id = res.stdout.strip()
    assert _wait_state(slurm_cluster, job_id) == "COMPLETED"
    with open(out) as f:
        assert f.read().strip() == "hello from %s" % job_id


def test_fixture_cluster_refuses_unknown_partition(slurm_cluster: SlurmCluster) -> None:
    res = slurm_cluster.command("sbatch", "-p", "no-such-partition", "--wrap", "true")
    assert res.returncode != 0
    assert "Invalid partition" in res.stderr
