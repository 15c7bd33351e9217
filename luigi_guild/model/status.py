"""Run statuses: the six values Guild infers from a run directory, and which ones count as done.

``Status`` is an enumeration built on ``str`` without the ``enum`` module
(importing it costs a plain ``guild runs`` listing about a quarter of its
time): each status is a ``str`` singleton, so it prints, compares and
serialises exactly as Guild's status strings do.
"""

from __future__ import annotations


class Status(str):
    """One run status; the members are class attributes (``Status.COMPLETED``...)."""

    __slots__ = ()

    PENDING: Status
    STAGED: Status
    RUNNING: Status
    COMPLETED: Status
    TERMINATED: Status
    ERROR: Status

    ALL: tuple[Status, ...]
    # Statuses under which a run satisfies ``--needed`` and Luigi dependencies.
    AVAILABLE: tuple[Status, ...]
    # Statuses of a run that has not finished (it may still become available).
    UNFINISHED: tuple[Status, ...]
    # Statuses of a run that makes a new ``guild run --needed`` skip.
    NEEDED_MATCH: tuple[Status, ...]

    @classmethod
    def parse(cls, text: str) -> Status:
        """The member spelled ``text``; ValueError for anything else."""
        for member in cls.ALL:
            if member == text:
                return member
        raise ValueError("unknown run status %r" % text)

    def __repr__(self) -> str:
        return "Status.%s" % str.upper(self)


Status.PENDING = Status("pending")
Status.STAGED = Status("staged")
Status.RUNNING = Status("running")
Status.COMPLETED = Status("completed")
Status.TERMINATED = Status("terminated")
Status.ERROR = Status("error")
Status.ALL = (Status.PENDING, Status.STAGED, Status.RUNNING, Status.COMPLETED, Status.TERMINATED, Status.ERROR)
Status.AVAILABLE = (Status.COMPLETED, Status.TERMINATED)
Status.UNFINISHED = (Status.PENDING, Status.RUNNING)
# Statuses of a run that makes a new ``guild run --needed`` skip (Guild ignores only error and pending).
Status.NEEDED_MATCH = (Status.COMPLETED, Status.TERMINATED, Status.RUNNING, Status.STAGED)


def status_of_exit(exit_status: int) -> Status:
    """The status a recorded exit status gives: 0 completed, a signal terminated, else error."""
    if exit_status == 0:
        return Status.COMPLETED
    return Status.TERMINATED if exit_status < 0 else Status.ERROR
