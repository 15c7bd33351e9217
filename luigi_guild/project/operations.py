"""Operation resolution: what ``guild run OPSPEC`` names, a guild.yml operation or a Python script.

Scripts are read by :mod:`luigi_guild.project.scripts`, guild.yml by
:mod:`luigi_guild.project.guildfile`.
"""

from __future__ import annotations

import os

from luigi_guild.model.errors import GuildError
from luigi_guild.model.opdef import OpDef
from luigi_guild.project import scripts


def resolve(opspec: str | None, cwd: str | None = None) -> OpDef:
    """Resolve ``opspec`` in ``cwd``: a guild.yml operation, else a Python script."""
    cwd = os.path.abspath(cwd or os.getcwd())
    if opspec and opspec.endswith(".py") and os.path.isfile(os.path.join(cwd, opspec)):
        return scripts.script_op(os.path.join(cwd, opspec))
    guildfile = os.path.join(cwd, "guild.yml")
    if os.path.isfile(guildfile):
        from luigi_guild.project import guildfile as gf

        opdef = gf.find_op(guildfile, opspec)
        if opdef is not None:
            return opdef
    if not opspec:
        raise GuildError("cannot find a default operation", hint="Try 'guild operations' for a list.")
    if os.path.isfile(os.path.join(cwd, opspec)) and opspec.endswith(".py"):
        return scripts.script_op(os.path.join(cwd, opspec))
    from luigi_guild.project import packages

    pkg_op = packages.find_op(opspec)
    if pkg_op is not None:
        return pkg_op
    raise GuildError(
        "cannot find operation %s" % opspec,
        hint="You may need to include a model in the form MODEL:OPERATION. "
        "Try 'guild operations' for a list of available operations.",
    )


_cache: dict[tuple[str | None, str], tuple[tuple, OpDef, float]] = {}
# A cached resolution is trusted this long (seconds) before its files are checked again.
RECHECK_S = 1.0


def _stamp(opspec: str | None, cwd: str) -> tuple:
    """What a resolution depends on: the script's and guild.yml's size and mtime."""
    stamp = []
    for path in (os.path.join(cwd, opspec) if opspec else None, os.path.join(cwd, "guild.yml")):
        try:
            st = os.stat(path) if path else None
        except OSError:
            st = None
        stamp.append((st.st_mtime_ns, st.st_size, st.st_ino) if st else None)
    return tuple(stamp)


def resolve_cached(opspec: str | None, cwd: str | None = None) -> OpDef:
    """:func:`resolve`, remembered per process until the script or guild.yml changes (checked once a second).

    Luigi builds construct and check many tasks of few operations; this keeps
    them from parsing the same script or guild.yml for every task.
    """
    import time

    cwd = os.path.abspath(cwd or os.getcwd())
    key = (opspec, cwd)
    hit = _cache.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[2] < RECHECK_S:
        return hit[1]
    stamp = _stamp(opspec, cwd)
    if hit is not None and hit[0] == stamp:
        _cache[key] = (stamp, hit[1], now)
        return hit[1]
    opdef = resolve(opspec, cwd)
    _cache[key] = (stamp, opdef, now)
    return opdef
