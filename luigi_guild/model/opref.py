"""Operation references: the one-line ``.guild/opref`` file of a run."""

from __future__ import annotations

def _split(text: str) -> list[str]:
    """``shlex.split(text)``, without the tokenizer when only bare words and ``''`` occur."""
    if '"' not in text and "\\" not in text:
        words = text.replace("\t", " ").replace("\r", " ").replace("\n", " ").split(" ")
        words = [w for w in words if w]
        if all(w == "''" or "'" not in w for w in words):
            return ["" if w == "''" else w for w in words]
    import shlex

    return shlex.split(text)


class OpRef(tuple):
    """Identifies the operation a run was made from (Guild's five opref fields).

    A plain tuple with named fields (what ``typing.NamedTuple`` would give,
    without importing ``typing`` on the listing path).
    """

    __slots__ = ()
    _fields = ("pkg_type", "pkg_name", "pkg_version", "model_name", "op_name")

    def __new__(cls, pkg_type: str, pkg_name: str, pkg_version: str, model_name: str, op_name: str) -> "OpRef":
        return tuple.__new__(cls, (pkg_type, pkg_name, pkg_version, model_name, op_name))

    def __getnewargs__(self) -> tuple[str, str, str, str, str]:  # pickling and copying
        return tuple(self)  # type: ignore[return-value]

    def __repr__(self) -> str:
        return "OpRef(%s)" % ", ".join("%s=%r" % pair for pair in zip(self._fields, self))

    pkg_type = property(lambda self: self[0], doc="package type: script, guildfile, package, builtin")
    pkg_name = property(lambda self: self[1], doc="project dir, guild.yml path or package name")
    pkg_version = property(lambda self: self[2], doc="guild.yml digest or package version")
    model_name = property(lambda self: self[3], doc="model name ('' for none)")
    op_name = property(lambda self: self[4], doc="operation or script name")

    def encode(self) -> str:
        """The opref file's single line (no trailing newline)."""
        import shlex

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
        parts = _split(rest)
        if len(parts) != 4:
            raise ValueError("invalid opref %r" % line)
        return cls(pkg_type, *parts)

    def same_operation(self, other: "OpRef") -> bool:
        """Whether ``other`` names the same operation (the guild.yml digest, the version, may differ)."""
        return (
            self.pkg_type == other.pkg_type
            and self.pkg_name == other.pkg_name
            and self.model_name == other.model_name
            and self.op_name == other.op_name
        )

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
