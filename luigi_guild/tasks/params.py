"""Luigi parameters for flags: one per flag type, parsing command-line text as ``guild run`` does."""

from __future__ import annotations

import json
from typing import Any

import luigi

from luigi_guild.model import flags as flagslib
from luigi_guild.model.flags import FlagDef


class FlagParameter(luigi.Parameter):
    """A flag value: ``--name VAL`` on Luigi's command line is read as ``guild run`` reads ``name=VAL``.

    Values keep their type in task ids (``1``, ``1.0``, ``"1"`` and ``True``
    give different ids), and a value the flag does not accept fails with
    the one-line message ``guild run`` prints.
    """

    def __init__(self, flagdef: FlagDef | None = None, **kwargs: Any):
        self.flagdef = flagdef
        super().__init__(**kwargs)

    def parse(self, x: str) -> Any:
        val = flagslib.decode_flag_val(x, self.flagdef)
        if self.flagdef is not None:
            flagslib.check_value(val, self.flagdef)
        return val

    def normalize(self, x: Any) -> Any:
        if self.flagdef is not None and x is not None:
            x = self.parse(x) if isinstance(x, str) else flagslib.coerce(x, self.flagdef)
        return tuple(x) if isinstance(x, list) else x

    def serialize(self, x: Any) -> str:
        return json.dumps(x, sort_keys=True, default=str)


class BoolFlagParameter(luigi.BoolParameter):
    """A boolean flag: ``--name yes|no|true|false|1|0`` (not a switch, so a ``True`` default can be turned off)."""

    def __init__(self, flagdef: FlagDef, **kwargs: Any):
        self.flagdef = flagdef
        kwargs.setdefault("parsing", luigi.BoolParameter.EXPLICIT_PARSING)
        super().__init__(**kwargs)

    def parse(self, x: Any) -> Any:
        return flagslib.coerce(x, self.flagdef)

    def normalize(self, x: Any) -> Any:
        return None if x is None else flagslib.coerce(x, self.flagdef)


def parameter_for(flagdef: FlagDef) -> Any:
    """The Luigi parameter for one flag, defaulting to the flag's default."""
    kw: dict[str, Any] = {"default": flagdef.default, "description": flagdef.description or None}
    if flagdef.type == "boolean":
        return BoolFlagParameter(flagdef, **kw)
    return FlagParameter(flagdef, **kw)
