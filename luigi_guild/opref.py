"""Operation references: the one-line ``.guild/opref`` file of a run."""

from __future__ import annotations

import shlex
from typing import NamedTuple


class OpRef(NamedTuple):
    """Identifies the operation a run was made from (Guild's five opref fields)."""

    pkg_type: str
    pkg_name: str
    pkg_version: str
    model_name: str
    op_name: str

    def encode(self) -> str:
        """The opref file's single line (no trailing newline)."""
        return "%s:%s %s %s %s" % (
            self.pkg_type,
            shlex.quote(self.pkg_name),
            shlex.quote(self.pkg_version),
            shlex.quote(self.model_name),
            shlex.quote(self.op_name),
        )

    @classmethod
    def parse(cls, line: str) -> "OpRef":
        """Parse an opref line; raises ``ValueError`` when it is malformed."""
        pkg_type, sep, rest = line.strip().partition(":")
        if not sep:
            raise ValueError("invalid opref %r" % line)
        parts = shlex.split(rest)
        if len(parts) != 4:
            raise ValueError("invalid opref %r" % line)
        return cls(pkg_type, *parts)

    @property
    def display(self) -> str:
        """How the operation is shown in run listings."""
        op = "%s:%s" % (self.model_name, self.op_name) if self.model_name else self.op_name
        if self.pkg_type == "package":
            return "%s/%s" % (self.pkg_name, op)
        return op

    @property
    def project_dir(self) -> str | None:
        """The project directory for script and guildfile oprefs."""
        if self.pkg_type == "script":
            return self.pkg_name
        if self.pkg_type == "guildfile":
            import os

            return os.path.dirname(self.pkg_name)
        return None
