"""``OperationTask``: one run of one operation with canonical flag values."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import luigi

from luigi_guild.model import flags as flagslib
from luigi_guild.model.errors import GuildError
from luigi_guild.model.flagid import canonical, dep_flag_name, param_text
from luigi_guild.model.opdef import OpDef
from luigi_guild.model.opref import OpRef
from luigi_guild.project import operations
from luigi_guild.run import deps, pipeline
from luigi_guild.run.pipeline import RunOptions
from luigi_guild.run.plan import RunPlan, Upstream, plan_new
from luigi_guild.store import query
from luigi_guild.store.rundir import Run, now_us
from luigi_guild.targets.runs import OperationTarget, OpRunTarget
from luigi_guild.tasks.cmdline import TaskParameterError, name_parse_errors


class FlagsParameter(luigi.Parameter):
    """Flag values as canonical JSON text.

    Sorted keys, and a text form that keeps ``1``, ``1.0`` and ``True`` apart,
    so Luigi's task ids and instance cache never confuse two flag sets.
    """

    def normalize(self, x: Any) -> str:
        if isinstance(x, str):
            x = json.loads(x) if x else {}
        if not isinstance(x, dict):
            raise ValueError("flags must be a mapping, got %r" % (x,))
        return param_text(dict(x))

    def parse(self, x: str) -> str:
        return self.normalize(x)

    def serialize(self, x: Any) -> str:
        return x if isinstance(x, str) else self.normalize(x)


class RunFailed(RuntimeError):
    """A run made by a task failed: the message names the run and ends with the last lines of its output.

    Luigi shows the message in its summary, in luigid's error view and in
    its error e-mails, so the cause travels with the failure.
    """

    TAIL_LINES = 20

    def __init__(self, run: Run, op_name: str, exit_status: Any, what: str = "run"):
        self.run = run
        self.exit_status = exit_status
        self.tail = output_tail(run, self.TAIL_LINES)
        msg = "%s %s (%s) failed with exit status %s" % (what, run.id, op_name, exit_status)
        if self.tail:
            msg += "; last lines of its output:\n" + "\n".join(self.tail)
        super().__init__(msg)


def output_tail(run: Run, lines: int) -> list[str]:
    """The last ``lines`` lines of a run's ``.guild/output`` (empty when there is none)."""
    try:
        with open(run.guild_path("output"), "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read()
    except OSError:
        return []
    return data.decode("utf-8", "replace").splitlines()[-lines:]


class OperationTask(luigi.Task):
    """One run of one operation (a script or guild.yml operation) with its flag values.

    Two ways to write one:

    * generic: ``OperationTask(operation="train.py", flags={"lr": 0.2}, project_dir=...)``;
    * typed: a subclass that names its operation as a class attribute
      (``operation = "train.py"``, optionally ``project_dir = ...``) and
      declares one Luigi parameter per flag it sets (``lr =
      luigi.FloatParameter(default=0.1)``); flags without a parameter keep
      their defaults. :func:`operation_task` generates such a class for an
      operation. Typed tasks run from Luigi's command line
      (``luigi --module m Train --lr 0.2``) and compose with
      ``luigi.util.requires``/``inherits``.

    Values are normalised when the task is built: defaults filled in, types
    coerced, the project directory made absolute, and a value the flag does
    not accept fails at once with ``guild run``'s one-line message. So one
    run request has one task id however the task was built. Task ids also
    include the Guild home, so processes with different homes can share a
    central scheduler.

    ``complete()`` is true when a run of the operation with equal flags,
    upstream runs included, is completed or terminated (``guild run
    --needed``'s rule). Upstream runs come from ``requires()``: guild.yml
    ``requires`` by default, or other operation tasks a subclass returns.
    """

    operation = luigi.Parameter(description="Operation spec, e.g. 'train.py' or 'model:train'")
    flags = FlagsParameter(default="{}", description="Flag values (mapping)")
    project_dir = luigi.Parameter(default="", description="Directory the operation is resolved in")
    needed = luigi.BoolParameter(default=True, description="Skip when a matching run exists")

    # A failed run is not retried by the scheduler (its cause is in its output): with a central
    # scheduler the task is disabled at once, so keep_alive workers leave instead of waiting for
    # a retry (luigid's [scheduler] disable_persist says for how long).
    retry_count = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if isinstance(cls.__dict__.get("operation"), str) and "flags" not in cls.__dict__:
            setattr(cls, "flags", None)  # typed: flags come from the class's own parameters

    #: How a run is matched: ``"flags"`` (equal flags and upstream runs, ``--needed``) or
    #: ``"latest"`` (any completed or terminated run, how ``requires`` picks an upstream run).
    #: Part of the task id: the two rules are different work for the same operation.
    match_rule = "flags"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.task_id = self.run_task_id()
        self._Task__hash = hash(self.task_id)
        self.__dict__["_built_us"] = now_us()

    def run_task_id(self) -> str:
        """The Luigi task id: the identity of the run this task asks for, whatever class built it.

        The family names the operation (not the class), and the id hashes the
        operation, the canonical flag values, the Guild home (the same request
        in another home is other work), the match rule, any other significant
        parameter of the class (``run_key``, or ``size`` read by ``requires``)
        and the ids of the tasks an overridden ``requires()`` returns. So a
        generic ``OperationTask``, a typed subclass and a generated class asking
        for one run share one id, and Luigi's schedulers (local or luigid) run
        it once.
        """
        import re

        from luigi.task import task_id_str

        from luigi_guild.model import home

        opdef = self._opdef()
        own = {"operation", "flags", "project_dir", *self.flag_params(opdef)}
        params = {
            k: v for k, v in self.to_str_params(only_significant=True, only_public=True).items() if k not in own
        }
        op = opdef.opref
        params["operation"] = " ".join((op.pkg_type, op.pkg_name, op.model_name, op.op_name))
        params["flags"] = param_text(self.flag_values)
        params["guild_home"] = os.path.abspath(home.guild_home())
        params["match_rule"] = self.match_rule
        if type(self).requires is not OperationTask.requires:
            # Upstream tasks a subclass chooses decide the upstream runs, so they are identity too.
            params["requires"] = " ".join(sorted(t.task_id for t in luigi.task.flatten(self.requires())))
        family = re.sub(r"[^0-9A-Za-z_.-]+", "_", op.display) or "operation"
        return task_id_str(family, params)

    def __eq__(self, other: object) -> bool:
        # One run is one task: tasks of different classes asking for it are equal (as their hashes are).
        if isinstance(other, OperationTask):
            return self.task_id == other.task_id
        return NotImplemented

    def __hash__(self) -> int:
        return super().__hash__()

    # ------------------------------------------------------------ identity
    #
    # Luigi asks for a class's parameters and normalises the same values several
    # times per task (the instance cache, __init__, __repr__); both are
    # remembered per class, so a build of thousands of tasks stays cheap.

    @classmethod
    def get_params(cls) -> Any:
        """Luigi's parameters of the class, remembered until an attribute is added (``inherits``)."""
        stamp = tuple(len(vars(k)) for k in cls.__mro__)
        cached = _params_cache.get(cls)
        if cached is None or cached[0] != stamp:
            params = super().get_params()
            name_parse_errors(params)  # bad text on Luigi's command line names the parameter
            cached = _params_cache[cls] = (stamp, params)
        return cached[1]

    def to_str_params(self, only_significant: bool = False, only_public: bool = False) -> Any:
        memo = self.__dict__.setdefault("_str_params", {})
        key = (only_significant, only_public)
        if key not in memo:
            memo[key] = super().to_str_params(only_significant, only_public)
        return dict(memo[key])

    @classmethod
    def is_typed(cls) -> bool:
        """Whether the class names its operation and takes flags as its own parameters."""
        return isinstance(getattr(cls, "operation", None), str)

    @classmethod
    def _opdef_of(cls, values: dict[str, Any]) -> OpDef:
        operation = getattr(cls, "operation") if cls.is_typed() else values.get("operation")
        return operations.resolve_cached(operation, cls._project_of(values))

    @classmethod
    def _project_of(cls, values: dict[str, Any]) -> str:
        project_dir = getattr(cls, "project_dir", None)
        if not isinstance(project_dir, str):
            project_dir = values.get("project_dir")
        return os.path.abspath(project_dir or os.getcwd())

    @classmethod
    def flag_params(cls, opdef: OpDef, params: list[tuple[str, Any]] | None = None) -> list[str]:
        """Names of the class's parameters that are flags of its operation (typed classes)."""
        if not cls.is_typed():
            return []
        return [name for name, _p in (params or cls.get_params()) if name in opdef.flags]

    @classmethod
    def get_param_values(cls, params: Any, args: Any, kwargs: Any) -> Any:
        """Luigi's parameter values, normalised: one run request gives one task id."""
        from luigi.cmdline_parser import CmdlineParser

        memo = _values_cache.get(cls)
        if memo is None or len(memo) > 20000:
            memo = _values_cache[cls] = {}
        context = (os.getcwd(), id(CmdlineParser.get_instance()))
        # repr keeps 1, 1.0, True and "1" apart; equal requests written differently only miss the memo.
        key = repr((tuple(args), sorted(kwargs.items()), context))
        hit = memo.get(key)
        if hit is not None:
            return hit
        values = cls._normalized_values(params, args, kwargs)
        memo[key] = values
        # Luigi passes the normalised values back in (``__repr__``): the same answer.
        memo[repr(((), sorted(values), context))] = values
        return values

    @classmethod
    def _normalized_values(cls, params: Any, args: Any, kwargs: Any) -> Any:
        kwargs = dict(kwargs)
        if cls.is_typed():
            opdef = cls._opdef_of(kwargs)
            family = cls.get_task_family()
            by_name = dict(params)
            for name in cls.flag_params(opdef, params):
                if name not in kwargs and not by_name[name].has_task_value(family, name):
                    kwargs[name] = opdef.flags[name].default
        try:
            values = dict(super().get_param_values(params, args, kwargs))
        except luigi.parameter.ParameterException as e:
            raise TaskParameterError(str(e)) from None
        if "project_dir" in values:
            values["project_dir"] = cls._project_of(values)
        opdef = cls._opdef_of(values)
        names = cls.flag_params(opdef, params)
        given = {n: values[n] for n in names} if cls.is_typed() else json.loads(values.get("flags") or "{}")
        given = {k: list(v) if isinstance(v, tuple) else v for k, v in given.items()}
        resolved = flagslib.resolve_values(
            opdef.flags, given, force_flags=bool(values.get("force_flags")), op_name=opdef.name
        )
        if cls.is_typed():
            by_name = dict(params)
            for name in names:
                values[name] = by_name[name].normalize(resolved[name])
        else:
            values["flags"] = param_text(resolved)
        return [(name, values[name]) for name, _p in params]

    @classmethod
    def of(
        cls, operation: str | None = None, flags: dict[str, Any] | None = None, project_dir: str | None = None, **kw: Any
    ) -> OperationTask:
        """A task for ``operation`` with ``flags`` (typed classes: flags become their parameters)."""
        if cls.is_typed():
            if operation is not None and operation != getattr(cls, "operation"):
                raise GuildError("%s runs %s, not %s" % (cls.__name__, getattr(cls, "operation"), operation))
            return cls(**dict(flags or {}), **kw)
        return cls(operation=operation or "", flags=dict(flags or {}), project_dir=project_dir or "", **kw)

    # ------------------------------------------------------------ planning

    @property
    def flag_values(self) -> dict[str, Any]:
        """The flag values this task was built with (defaults filled in)."""
        if self.is_typed():
            opdef = self._opdef()
            values = {name: fd.default for name, fd in opdef.flags.items()}
            for name in self.flag_params(opdef):
                val = getattr(self, name)
                values[name] = list(val) if isinstance(val, tuple) else val
            return values
        return json.loads(self.flags)

    def plan(self) -> RunPlan:
        """The run plan, upstream runs not chosen yet (resolved once per task instance)."""
        cached = self.__dict__.get("_plan")
        if cached is None:
            opdef = self._opdef()
            operation = self.operation if self.is_typed() else self.param_kwargs["operation"]
            cached = plan_new(operation, cwd=opdef.project_dir, opdef=opdef, values=self.flag_values)
            self.__dict__["_plan"] = cached
        return cached

    def output(self) -> OperationTarget:
        """The newest run matching this task's request, its upstream runs included."""
        return OperationTarget(self._request)

    def _opdef(self) -> OpDef:
        opdef = self.__dict__.get("_opdef_cached")
        if opdef is None:
            opdef = self.__dict__["_opdef_cached"] = self._opdef_of(self.param_kwargs)
        return opdef

    def _request(self) -> tuple[OpRef, dict[str, Any]] | None:
        """The operation and flags a matching run has, upstream run ids included; None while one is missing."""
        opdef = self._opdef()
        if not opdef.requires and not any(isinstance(t, OperationTask) for t in luigi.task.flatten(self.requires())):
            # No upstream runs: the flags are the built (canonical) values, no plan needed.
            flags = self.__dict__.get("_flags_cached")
            if flags is None:
                flags = self.__dict__["_flags_cached"] = canonical(self.flag_values)
            return opdef.opref, flags
        try:
            plan = self.resolved_plan()
        except deps.DependencyError:
            return None
        return plan.opref, plan.flags

    def requires(self) -> Any:
        """The operations a guild.yml operation ``requires`` (latest run of each, any flags)."""
        opdef = self.plan().opdef
        if opdef is None or not opdef.requires:
            return []
        return [
            RequiredOperationTask(operation=up.name, flags=up_defaults(up), project_dir=opdef.project_dir)
            for _req, up in deps.upstream_opdefs(opdef)
        ]

    def resolved_plan(self) -> RunPlan:
        """The plan with its upstream runs chosen now and their ids in its flags.

        guild.yml ``requires`` entries take the run their flag names, else the
        latest completed or terminated run; operation tasks returned by
        :meth:`requires` give the run behind their output. Raises
        ``DependencyError`` while one is missing.
        """
        base = self.plan()
        plan = dataclasses.replace(base, flags=dict(base.flags), upstream=[])
        deps.resolve(plan)
        chosen = []
        from luigi_guild.tasks.best import BestRunTask

        for task in luigi.task.flatten(self.requires()):
            if isinstance(task, BestRunTask):  # the best run of an operation by a result column
                run, up = task.output().latest(), task.output().opref
            elif isinstance(task, OperationTask) and not isinstance(task, RequiredOperationTask):
                run, up = task.output().latest(), task.plan().opref
            else:
                continue
            if run is None:
                raise deps.DependencyError("no completed or terminated run of %s (required by %s)" % (task, self))
            uri = "operation:" + up.op_name
            flag = dep_flag_name(uri, declared=base.flags)
            chosen.append((flag, Upstream(run, uri, uri)))
        if chosen:
            deps.record(plan, chosen)
        return plan

    def complete(self) -> bool:
        if self.__dict__.get("_ran_ok"):
            return True
        if not self.needed:
            return False
        return self.output().exists()

    # ------------------------------------------------------------- running

    def already_done(self, plan: RunPlan) -> bool:
        """Checked while holding the claim: whether another worker made the run meanwhile."""
        return self.needed and bool(query.shared_index().needed(plan.opref, plan.flags))

    def run(self) -> None:
        plan = self.resolved_plan()
        opts = RunOptions(needed=self.needed, echo=self.echo_output(), already_done=self.already_done)
        outcome = pipeline.execute(plan, opts)
        if outcome.run is not None:
            self.__dict__["_run"] = outcome.run
        if not outcome.ok:
            assert outcome.run is not None
            raise RunFailed(outcome.run, plan.op_name, outcome.exit_status)
        self.__dict__["_ran_ok"] = True

    def echo_output(self) -> bool:
        """Whether the run's output is shown (subclasses may silence it)."""
        return True

    @property
    def last_run(self) -> Run | None:
        """The run this task made, if any.

        With ``workers > 1`` Luigi runs the task in a child process; the
        parent then sees the newest matching run started since this task
        object was built.
        """
        run = self.__dict__.get("_run")
        if run is not None:
            return run
        built = self.__dict__.get("_built_us")
        latest = self.output().latest()
        if latest is not None and built is not None and latest.timestamp >= built:
            return latest
        return None


# Per-class memos of Luigi's parameter lookups (see OperationTask.get_params / get_param_values).
_params_cache: dict[type, tuple[tuple[int, ...], Any]] = {}
_values_cache: dict[type, dict[str, Any]] = {}


def up_defaults(opdef: OpDef) -> dict[str, Any]:
    """An upstream operation's default flag values, canonical."""
    return canonical({name: fd.default for name, fd in opdef.flags.items()})


class RequiredOperationTask(OperationTask):
    """An upstream operation named in ``requires``.

    Complete when the operation has any completed or terminated run (Guild's
    rule for operation dependencies); otherwise it runs once with ``flags``.
    """

    match_rule = "latest"

    def output(self) -> OpRunTarget:  # type: ignore[override]
        return OpRunTarget(self.plan().opref)

    def complete(self) -> bool:
        if self.__dict__.get("_ran_ok"):
            return True
        return self.output().exists()

    def already_done(self, plan: RunPlan) -> bool:
        return self.output().exists()


def operation_task(
    operation: str,
    project_dir: str | None = None,
    name: str | None = None,
    base: type[OperationTask] = OperationTask,
    module: str | None = None,
) -> type[OperationTask]:
    """A typed task class for ``operation``: one Luigi parameter per flag, defaulting to the flag's default.

    ``Train = operation_task("train", project_dir=HERE)`` in module ``m``
    makes ``luigi --module m Train --lr 0.2`` work; values are read as
    ``guild run`` reads ``lr=0.2``. Flags whose names are not Python names
    (or clash with task attributes such as ``run``) get no parameter and
    keep their defaults. The class is named after the operation
    (``train.py`` -> ``Train``) unless ``name`` is given.
    """
    import keyword
    import re
    import sys

    from luigi_guild.tasks.params import parameter_for

    project_dir = os.path.abspath(project_dir or os.getcwd())
    opdef = operations.resolve_cached(operation, project_dir)
    reserved = set(dir(base))
    if module is None:
        module = sys._getframe(1).f_globals.get("__name__", __name__)
    attrs: dict[str, Any] = {
        "operation": operation,
        "project_dir": project_dir,
        "__module__": module,
        "__doc__": opdef.description or "Runs %s." % opdef.name,
    }
    for fname, fd in opdef.flags.items():
        if fd.arg_skip or not fname.isidentifier() or keyword.iskeyword(fname) or fname in reserved:
            continue
        attrs[fname] = parameter_for(fd)
    if name is None:
        stem = re.sub(r"\.py$", "", opdef.opref.op_name)
        name = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", stem) if part) or "Operation"
        if name[0].isdigit():
            name = "Op" + name
    return type(name, (base,), attrs)
