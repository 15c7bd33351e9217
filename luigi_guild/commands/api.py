"""``guild api``: machine-readable (JSON) output of Guild commands: ``compare``, ``ops``, ``help-op``, ``runs``, ``merge``."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

import click

from luigi_guild.commands.compare import api_compare
from luigi_guild.commands.filters import filter_options
from luigi_guild.commands.merge import merge_options

if TYPE_CHECKING:
    from luigi_guild.model.opdef import OpDef


@click.group("api")
def api() -> None:
    """Machine-readable output of Guild commands."""


api.add_command(api_compare)


def format_option(fn: Any) -> Any:
    """``-f/--format``: indented JSON with sorted keys, as Guild formats it."""
    return click.option("-f", "--format", "pretty", is_flag=True, help="Format the JSON output.")(fn)


def out(data: Any, pretty: bool) -> None:
    """``data`` as one line of JSON, or indented with sorted keys."""
    opts: dict[str, Any] = {"indent": 2, "sort_keys": True} if pretty else {}
    sys.stdout.write(json.dumps(data, default=str, **opts) + "\n")


def op_info(opdef: "OpDef") -> dict[str, Any]:
    """An operation as Guild's ``api ops``/``api help-op`` describe it (Guild's field names and order)."""
    from luigi_guild.model.flags import format_val

    ref = opdef.opref
    if ref.pkg_type == "guildfile":
        guildfile: dict[str, Any] = {"dir": os.path.dirname(os.path.abspath(ref.pkg_name)), "src": ref.pkg_name}
    else:
        guildfile = {"dir": os.path.abspath(opdef.project_dir), "src": None}
    return {
        "opref": {
            "pkgType": ref.pkg_type,
            "pkgName": ref.pkg_name,
            "pkgVersion": ref.pkg_version,
            "modelName": ref.model_name,
            "opName": ref.op_name,
        },
        "name": ref.op_name,
        "fullname": "%s:%s" % (ref.model_name, ref.op_name) if ref.model_name else ref.op_name,
        "description": opdef.description,
        "guildfile": guildfile,
        "flags": {
            name: {
                "default": fd.default,
                "defaultAssign": "%s=%s" % (name, format_val(fd.default)),
                "description": fd.description,
                "choices": _choices(fd.choices, fd.extra),
                "type": fd.type,
            }
            for name, fd in sorted(opdef.flags.items())
        },
    }


def _choices(choices: list | None, extra: dict) -> list:
    """Guild's choice entries: ``{value, alias, description}`` per choice (``[]`` without choices)."""
    if not choices:
        return []
    shown = extra.get("choice_help") or []
    aliases = {v: a for a, v in (extra.get("choice_aliases") or {}).items()}
    found = []
    for i, value in enumerate(choices):
        description = shown[i][1] if i < len(shown) else ""
        found.append({"value": value, "alias": aliases.get(value), "description": description})
    return found


@api.command("ops")
@format_option
def api_ops(pretty: bool) -> None:
    """The operations of the project in the current directory as JSON (private ones left out)."""
    from luigi_guild.project import guildfile

    path = os.path.join(os.getcwd(), "guild.yml")
    opdefs = guildfile.list_ops(path) if os.path.isfile(path) else []
    opdefs.sort(key=lambda op: (op.opref.model_name, op.opref.op_name))
    out(
        [
            op_info(op) for op in opdefs
            if not (op.opref.op_name.startswith("_") or op.opref.model_name.startswith("_"))
        ],
        pretty,
    )


@api.command("help-op")
@click.argument("opspec", metavar="OPSPEC")
@format_option
def api_help_op(opspec: str, pretty: bool) -> None:
    """An operation (of the project here, or a Python script) and its flags as JSON."""
    from luigi_guild.project import operations

    out(op_info(operations.resolve(opspec)), pretty)


@api.command("runs")
@click.argument("runs", metavar="[RUN...]", nargs=-1)
@format_option
@click.option("-v", "--api-version", type=click.Choice(["1", "2"]), default="2", show_default=True,
              help="API version (only 2 is implemented).")
@click.option("-d", "--deleted", is_flag=True, help="Show deleted runs.")
@click.option("--include-batch", is_flag=True, help="Include batch runs.")
@filter_options
def api_runs(runs: tuple[str, ...], pretty: bool, api_version: str, deleted: bool, include_batch: bool,
             **kw: Any) -> None:
    """Runs as JSON, with their attributes, files and scalar summaries (Guild's API version 2)."""
    from luigi_guild.commands.filters import selected_runs
    from luigi_guild.model import home
    from luigi_guild.model.errors import GuildError
    from luigi_guild.store import info
    from luigi_guild.store import scalars as scalarstore

    if api_version != "2":
        raise GuildError("api runs --api-version %s is not supported (2, the default, is)" % api_version)
    chosen = selected_runs(kw, runs, [":"], "api runs", deleted=deleted)
    if not (include_batch or deleted):
        chosen = [r for r in chosen if not os.path.isdir(r.guild_path("proto"))]
    runs_dir = os.path.realpath(home.trash_runs_dir() if deleted else home.runs_dir())
    summaries = scalarstore.for_runs(chosen)
    out([info.api_run_data(r, runs_dir, summaries.get(r.path, [])) for r in chosen], pretty)


# Guild's codes for why ``merge`` skips a file (``toSkip[].reason``), from ours.
_SKIP_CODES = {"other": "?", "unchanged": "u", "npd": "npd", "deps": "d", "source": "s", "excluded": "x"}


@api.command("merge")
@format_option
@merge_options
def api_merge(
    pretty: bool, run: str | None, target_dir: str | None, sourcecode: bool, all_: bool, skip_sourcecode: bool,
    skip_deps: bool, exclude: tuple[str, ...], no_summary: bool, summary_name: str, preview: bool, yes: bool,
    replace: bool, no_replace: bool, **kw: Any,
) -> None:
    """Merge a run's files without prompts, answering in JSON (Guild's ``resp`` kinds).

    With --preview the plan is printed (`preview`) and nothing is copied;
    otherwise --yes is required. The answer is `ok` with the copied paths,
    `replacement-paths` or `unstaged-paths` when files would be replaced,
    or `nothing-to-copy`.
    """
    from luigi_guild.commands.merge import planned, replace_problem, write_summary
    from luigi_guild.model.errors import GuildError
    from luigi_guild.store import runmerge

    ctx = click.get_current_context()
    if not preview and not yes:
        raise GuildError(
            "--yes must be specified for this command when --preview is not used",
            hint="Try '%s --help' for more information." % ctx.command_path,
        )
    plan = planned(ctx, run, kw, target_dir, sourcecode, all_, skip_sourcecode, skip_deps, exclude, replace, no_replace)
    problem = replace_problem(plan, replace, no_replace)
    if problem:
        what, paths = problem
        out({"resp": "replacement-paths" if what == "replaced" else "unstaged-paths", "paths": sorted(paths)}, pretty)
        return
    if not plan.to_copy and not preview:
        out({"resp": "nothing-to-copy"}, pretty)
        return
    if preview:
        out(
            {
                "resp": "preview",
                "run": _merge_run_data(plan.run),
                "targetDir": plan.target_dir,
                "toCopy": [
                    {"fileType": c.kind, "runPath": c.run_path, "targetPath": c.target_path} for c in plan.to_copy
                ],
                "toSkip": [
                    {"fileType": s.kind, "runPath": s.run_path, "targetPath": s.target_path,
                     "reason": _SKIP_CODES.get(s.reason, s.reason)}
                    for s in plan.to_skip
                ],
            },
            pretty,
        )
        return
    copied: list[str] = []
    runmerge.apply(plan, lambda c: copied.append(c.target_path))
    if not no_summary:
        write_summary(plan, summary_name)
    out({"resp": "ok", "copied": copied}, pretty)


def _merge_run_data(run: Any) -> dict[str, Any]:
    """The run in a merge preview: Guild's run fields, times formatted."""
    from luigi_guild.model import home
    from luigi_guild.model.table import format_timestamp
    from luigi_guild.store import info

    data = info.api_run_data(run, os.path.realpath(home.runs_dir()), [])
    data["started"], data["stopped"] = format_timestamp(data["started"]), format_timestamp(data["stopped"])
    names = ("id", "shortId", "dir", "operation", "started", "stopped", "label", "status", "projectDir", "opRef")
    return {name: data.get(name) for name in names}
