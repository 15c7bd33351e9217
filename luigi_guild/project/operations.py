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
    raise GuildError(
        "cannot find operation %s" % opspec,
        hint="You may need to include a model in the form MODEL:OPERATION. "
        "Try 'guild operations' for a list of available operations.",
    )
