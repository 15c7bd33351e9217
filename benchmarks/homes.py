"""Generate Guild homes full of completed ``echo.py`` runs in Guild 0.9's layout.

Each run looks exactly like one that ``guild run echo.py`` (guildai 0.9.0) leaves behind:

    runs/<32-hex id>/echo.py                 source copied to the run root
    runs/<id>/.guild/opref                   ``script:<project dir> '' '' echo.py`` (no newline)
    runs/<id>/.guild/manifest                ``s echo.py <sha1> echo.py``
    runs/<id>/.guild/output                  ``<x> 2 'a'`` + newline
    runs/<id>/.guild/output.index            one 9-byte record: >Q ms timestamp + stream byte
    runs/<id>/.guild/attrs/<name>            one YAML document per file

Attribute text is written by hand (no PyYAML needed) in the exact form PyYAML's
``safe_dump`` produces, so both guildai and luigi-guild read it back unchanged.
Run ``i`` (0 = oldest) has ``x = float(i + 1)`` so every run's flags differ and the
oldest run carries the script defaults (``x=1.0 y=2 z=a``). Sweep homes
(``sweep=True``) instead hold grid trials with ``x = float(i)``, ``i`` in ``range(n)``.

Generation is plain file writes with precomputed text: 10,000 runs take a few seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import struct
import subprocess
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT_DIR = os.path.join(HERE, "project")
CACHE_DIR = os.path.join(HERE, "out", "homes")
FORMAT_VERSION = "1"  # bump when the generated layout changes (invalidates the cache)

# 2024-01-01 00:00:00 UTC in microseconds; run i starts BASE + i * STEP.
BASE_TIME_US = 1_704_067_200_000_000
STEP_US = 10_000_000  # 10 s between runs
RUN_DURATION_US = 600_000


def project_script() -> bytes:
    """Bytes of the sample project's ``echo.py``."""
    with open(os.path.join(PROJECT_DIR, "echo.py"), "rb") as f:
        return f.read()


def sourcecode_digest(files: dict[str, bytes]) -> str:
    """Guild's ``sourcecode_digest``: md5 over sorted ``path\\0bytes\\0`` pairs."""
    md5 = hashlib.md5()
    for path in sorted(files):
        md5.update(path.encode("utf-8") + b"\x00" + files[path] + b"\x00")
    return md5.hexdigest()


def _yaml_str(s: str) -> str:
    """A string scalar as PyYAML ``safe_dump`` writes simple strings."""
    if s == "" or s in ("y", "n", "Y", "N", "yes", "no", "true", "false", "null", "~"):
        return "'%s'" % s
    if any(c in s for c in ":#'\"{}[],&*!|>%@`") or s != s.strip():
        return "'%s'" % s.replace("'", "''")
    try:
        float(s)
    except ValueError:
        return s
    return "'%s'" % s


def _flags_yaml(x: float) -> str:
    return "x: %r\n'y': 2\nz: a\n" % x


def _label(x: float) -> str:
    return "x=%s y=2 z=a" % _format_label_float(x)


def _format_label_float(x: float) -> str:
    """Guild's default-label float format (at most 5 decimals, trailing zeros trimmed)."""
    s = "%.5f" % x
    s = s.rstrip("0")
    return s + "0" if s.endswith(".") else s


def _cmd_yaml(python: str, x: float) -> str:
    args = [python, "-um", "guild.op_main", "echo", "--x", repr(x), "--y", "2", "--z", "a"]
    return "".join("- %s\n" % _yaml_str(a) for a in args)


def _op_yaml(project_dir: str) -> str:
    return (
        "delete-on-success: false\n"
        "deps: []\n"
        "flag-null-labels: {}\n"
        "flags-extra: {}\n"
        "label-template: null\n"
        "op-cmd:\n"
        "  cmd-args:\n"
        "  - ${python_exe}\n"
        "  - -um\n"
        "  - guild.op_main\n"
        "  - echo\n"
        "  - __flag_args__\n"
        "  cmd-env:\n"
        "    FLAGS_DEST: globals\n"
        "    GUILD_PLUGINS: cpu,disk,memory,perf,python_script\n"
        "    PROJECT_DIR: %s\n"
        "    PYTHONPATH: .\n"
        "  cmd-flags:\n"
        "    x: {}\n"
        "    'y': {}\n"
        "    z: {}\n"
        "  flags-dest: globals\n"
        "output-scalars: null\n"
        "python-requires: null\n"
        "sourcecode:\n"
        "  dest: .\n" % _yaml_str(project_dir)
    )


_PLATFORM_YAML = (
    "architecture: 64bit ELF\n"
    "cpus: 2\n"
    "processor: ''\n"
    "python_version: 3.11.7\n"
    "uname: Linux bench 6.0.0 x86_64\n"
)
_PLUGINS_YAML = "- cpu\n- disk\n- memory\n- perf\n- python_script\n"


def _write(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def run_ids(n: int, seed: int) -> list[str]:
    """``n`` deterministic, distinct 32-hex run ids."""
    rng = random.Random(seed)
    return [uuid.UUID(int=rng.getrandbits(128), version=4).hex for _ in range(n)]


def generate_home(
    home: str,
    n: int,
    *,
    sweep: bool = False,
    project_dir: str = PROJECT_DIR,
    python: str = sys.executable,
    seed: int = 0,
) -> list[str]:
    """Write ``n`` completed ``echo.py`` runs under ``home/runs``; return their ids, oldest first."""
    runs = os.path.join(home, "runs")
    os.makedirs(runs, exist_ok=True)
    script = project_script()
    opref = ("script:%s '' '' echo.py" % _shell_quote(project_dir)).encode()
    manifest = ("s echo.py %s echo.py\n" % hashlib.sha1(script).hexdigest()).encode()
    digest = ("%s\n" % sourcecode_digest({"echo.py": script})).encode()
    op_attr = _op_yaml(project_dir).encode()
    const_attrs = {
        "exit_status": b"0\n",
        "deps": b"{}\n",
        "host": b"bench\n",
        "user": b"bench\n",
        "platform": _PLATFORM_YAML.encode(),
        "plugins": _PLUGINS_YAML.encode(),
        "op": op_attr,
        "sourcecode_digest": digest,
    }
    ids = run_ids(n, seed + (1_000_003 if sweep else 0))
    job = (runs, script, opref, manifest, const_attrs, sweep, python)
    jobs = 1  # parallel writers contend on the filesystem and are slower here
    if jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        chunks = [list(enumerate(ids))[k::jobs] for k in range(jobs)]
        with ProcessPoolExecutor(jobs) as pool:
            list(pool.map(_write_runs, [job] * jobs, chunks))
    else:
        _write_runs(job, list(enumerate(ids)))
    return ids


def _write_runs(job: tuple, items: list[tuple[int, str]]) -> None:
    """Write the runs ``items`` (index, id) -- a worker for ``generate_home``."""
    runs, script, opref, manifest, const_attrs, sweep, python = job
    for i, run_id in items:
        x = float(i) if sweep else float(i + 1)
        initialized = BASE_TIME_US + i * STEP_US
        started = initialized + 20_000
        stopped = started + RUN_DURATION_US
        run_dir = os.path.join(runs, run_id)
        guild_dir = os.path.join(run_dir, ".guild")
        attrs_dir = os.path.join(guild_dir, "attrs")
        os.makedirs(attrs_dir)
        _write(os.path.join(run_dir, "echo.py"), script)
        _write(os.path.join(guild_dir, "opref"), opref)
        _write(os.path.join(guild_dir, "manifest"), manifest)
        _write(os.path.join(guild_dir, "output"), ("%r 2 'a'\n" % x).encode())
        _write(os.path.join(guild_dir, "output.index"), struct.pack(">QB", stopped // 1000 - 100, 0))
        attrs = dict(const_attrs)
        attrs["id"] = ("%s\n" % run_id).encode()
        attrs["initialized"] = b"%d\n" % initialized
        attrs["started"] = b"%d\n" % started
        attrs["stopped"] = b"%d\n" % stopped
        attrs["flags"] = _flags_yaml(x).encode()
        attrs["user_flags"] = ("x: %r\n" % x).encode() if (sweep or i > 0) else b"{}\n"
        attrs["label"] = ("%s\n" % _label(x)).encode()
        attrs["cmd"] = _cmd_yaml(python, x).encode()
        for name, data in attrs.items():
            _write(os.path.join(attrs_dir, name), data)


def _shell_quote(s: str) -> str:
    import shlex

    return shlex.quote(s)


def cached_home(n: int, *, sweep: bool = False) -> str:
    """Path of a generated home with ``n`` runs under ``benchmarks/out/homes``, built once."""
    name = "%s-%d-v%s" % ("sweep" if sweep else "runs", n, FORMAT_VERSION)
    path = os.path.join(CACHE_DIR, name)
    if os.path.isdir(path):
        return path
    tmp = path + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    generate_home(tmp, n, sweep=sweep)
    os.rename(tmp, path)
    return path


def fresh_copy(src: str, dest: str) -> str:
    """Replace ``dest`` with a copy of home ``src`` (``cp -a``: much faster than copytree)."""
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    subprocess.run(["cp", "-a", src, dest], check=True)
    return dest


def main(argv: list[str] | None = None) -> None:
    """CLI: ``python benchmarks/homes.py HOME N [--sweep]``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("home")
    p.add_argument("n", type=int)
    p.add_argument("--sweep", action="store_true", help="trial runs with x = 0.0 .. n-1")
    args = p.parse_args(argv)
    generate_home(args.home, args.n, sweep=args.sweep)


if __name__ == "__main__":
    main()
