"""Steps runs: the process of a ``steps:`` operation, which runs each step as its own run, in order.

``python -um luigi_guild.run.steps`` runs in the steps run (``RUN_DIR``);
it reads the run's ``steps`` attribute (as guild.yml gives it), and starts
each step with ``guild run -y --run-id ID OP [options] [FLAG=VAL...]``, so
every step goes through the one run pipeline and is an ordinary run. The
steps run links ``<name>`` to each step's run first, as Guild does. A step
that fails stops the steps: this process exits with its exit status.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

from luigi_guild.model import flags as flagslib
from luigi_guild.store.rundir import Run

# The steps run's ``run_params`` that a step takes when it does not set its own (as Guild).
_INHERITED = ("label", "tags")
_REF_RE = re.compile(r"\$\{([^}]+)\}")


class StepError(Exception):
    """A step that cannot be run as written."""


@dataclass
class Step:
    """One step: its link name, the operation and the arguments of its ``guild run``."""

    name: str
    opspec: str
    options: list[str] = field(default_factory=list)
    flag_args: list[str] = field(default_factory=list)
    isolate_runs: bool = True

    @property
    def is_sweep(self) -> bool:
        """Whether the step runs a batch (no single run id to give it)."""
        sweep_opts = ("-o", "--optimizer", "-O", "--optimize", "-m", "--max-trials")
        return any(a.startswith("@") for a in self.flag_args) or any(o in sweep_opts for o in self.options) or any(
            "[" in a.partition("=")[2] for a in self.flag_args
        )

    def args(self) -> list[str]:
        return [self.opspec, *self.options, *self.flag_args]


def _resolve(text: str, flags: dict[str, Any]) -> str:
    """``${name}`` references to the steps run's flags replaced by their values (others kept)."""
    return _REF_RE.sub(lambda m: flagslib.format_val(flags[m.group(1)]) if m.group(1) in flags else m.group(0), text)


def parse_step(data: Any, flags: dict[str, Any], model: str, params: dict[str, Any]) -> Step:
    """A step from guild.yml data (``"OP FLAG=VAL..."`` or a mapping with ``run``)."""
    if isinstance(data, str):
        data = {"run": data}
    if not isinstance(data, dict) or not isinstance(data.get("run"), str) or not data["run"].strip():
        raise StepError("invalid step %r: a step needs an operation to run" % (data,))
    try:
        words = [_resolve(w, flags) for w in shlex.split(data["run"])]
    except ValueError as e:
        raise StepError("invalid step %r: %s" % (data["run"], e)) from None
    opspec, rest = words[0], words[1:]
    name = str(data.get("name") or opspec)
    if model and ":" not in opspec and not opspec.endswith(".py"):
        opspec = "%s:%s" % (model, opspec)
    options = [w for w in rest if w.startswith("-")]
    assigns = [w for w in rest if not w.startswith("-")]
    given = data.get("flags") or {}
    if isinstance(given, dict):
        assigns += ["%s=%s" % (k, _resolve(v, flags) if isinstance(v, str) else flagslib.format_val(v))
                    for k, v in given.items()]
    else:
        assigns += [_resolve(str(a), flags) for a in given]
    # Flags of the steps run named ``<step or op>:<flag>`` go to that step.
    for prefix in (str(data.get("name") or ""), words[0]):
        if prefix:
            assigns += ["%s=%s" % (k[len(prefix) + 1:], flagslib.format_val(v))
                        for k, v in flags.items() if k.startswith(prefix + ":") and v is not None]
    for key, opt in (("needed", "--needed"), ("force-flags", "--force-flags"),
                     ("fail-on-trial-error", "--fail-on-trial-error")):
        if data.get(key) and opt not in options:
            options.append(opt)
    for key, opt in (("label", "--label"), ("max-trials", "--max-trials"), ("optimizer", "--optimizer"),
                     ("random-seed", "--random-seed"), ("batch-label", "--batch-label")):
        val = data.get(key, params.get(key) if key in _INHERITED else None)
        if val is not None:
            options += [opt, _resolve(str(val), flags)]
    tags = data.get("tags", params.get("tags") or [])
    for tag in [tags] if isinstance(tags, str) else tags:
        options += ["--tag", _resolve(str(tag), flags)]
    batch_tags = data.get("batch-tags") or []
    for tag in [batch_tags] if isinstance(batch_tags, str) else batch_tags:
        options += ["--batch-tag", _resolve(str(tag), flags)]
    isolate = data.get("isolate-runs", True)
    return Step(name, opspec, options, assigns, isolate_runs=bool(isolate))


def link_name(parent_dir: str, name: str) -> str:
    """A free link name in the steps run for step ``name`` (``name``, ``name_2``...), as Guild names them."""
    base = re.sub(r"[ :/\\]", "-", name)
    path, n = os.path.join(parent_dir, base), 2
    while os.path.lexists(path):
        path, n = os.path.join(parent_dir, "%s_%d" % (base, n)), n + 1
    return path


def run_steps(run: Run) -> int:
    """Run the steps of ``run`` one after another; the exit status of the first that fails, else 0."""
    from luigi_guild.run.create import new_run_id

    steps_data = run.get("steps") or []
    if not isinstance(steps_data, list):
        raise StepError("invalid steps %r: expected a list" % (steps_data,))
    flags = run.flags
    model = run.opref.model_name
    params = {**(run.get("run_params") or {}), "tags": run.get("tags") or []}
    steps = [parse_step(d, flags, model, params) for d in steps_data]
    cwd = os.environ.get("PROJECT_DIR") or os.environ.get("CMD_DIR") or os.getcwd()
    for step in steps:
        cmd = [sys.executable, "-um", "luigi_guild", "run", "-y"]
        # ``<name>`` -> ``../<id>``, made before the step starts (dangling if --needed skips it, or
        # when a sweep's batch run is deleted on success, as under Guild); a sweep's id is its batch's.
        step_id = new_run_id()
        os.symlink(os.path.join("..", step_id), link_name(run.path, step.name))
        cmd += ["--run-id", step_id]
        env = dict(os.environ)
        for var in ("RUN_DIR", "RUN_ID", "GUILD_OP"):
            env.pop(var, None)
        if step.isolate_runs:
            env["GUILD_RUNS_PARENT"] = run.id
        else:
            env.pop("GUILD_RUNS_PARENT", None)  # not narrowed by an outer steps run either
        sys.stderr.write("INFO: [guild] running %s: %s\n" % (step.name, " ".join(step.args())))
        sys.stderr.flush()
        sys.stdout.flush()
        code = subprocess.call(cmd + step.args(), cwd=cwd, env=env)
        if code != 0:
            return code
    return 0


def main() -> None:
    run = Run.for_dir(os.environ["RUN_DIR"])
    try:
        code = run_steps(run)
    except StepError as e:
        sys.stderr.write("guild: %s\n" % e)
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
