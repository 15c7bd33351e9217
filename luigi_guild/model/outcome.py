"""What executing a run plan came to: the outcome value the run pipeline returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from luigi_guild.model import exitcodes

if TYPE_CHECKING:  # pragma: no cover
    from luigi_guild.store.rundir import Run


class OutcomeKind(str):
    """How a run plan ended; the members are class attributes (a ``str`` enumeration, as Status)."""

    __slots__ = ()

    SKIPPED: OutcomeKind
    UNCHANGED: OutcomeKind
    STAGED: OutcomeKind
    STARTED: OutcomeKind
    FINISHED: OutcomeKind


OutcomeKind.SKIPPED = OutcomeKind("skipped")  # --needed: matching runs exist
OutcomeKind.UNCHANGED = OutcomeKind("unchanged")  # --restart --needed: flags have not changed
OutcomeKind.STAGED = OutcomeKind("staged")  # created, ready for --start
OutcomeKind.STARTED = OutcomeKind("started")  # started in the background
OutcomeKind.FINISHED = OutcomeKind("finished")  # ran in this process and stopped


@dataclass
class Outcome:
    """The result of one pass through the run pipeline."""

    kind: OutcomeKind
    run: Run | None = None
    exit_status: int | None = None
    matches: list[Run] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether nothing failed: a skip, a stage, a start, or a run that exited 0."""
        return self.kind != OutcomeKind.FINISHED or self.exit_status == 0

    @property
    def exit_code(self) -> int:
        """The exit code ``guild run`` gives for this outcome."""
        if self.kind == OutcomeKind.FINISHED and self.exit_status is not None:
            return exitcodes.for_exit_status(self.exit_status)
        return exitcodes.OK
