"""Run labels, tags, marks and comments: computing and writing new values."""

from __future__ import annotations

from typing import Iterable

from luigi_guild.model import flags as flagslib
from luigi_guild.model.errors import GuildError
from luigi_guild.store.rundir import Run


def render(template: str, run: Run) -> str:
    """A label template rendered with the run's flags and ``${label}`` (its current label)."""
    values = dict(run.flags)
    values["label"] = run.label
    return flagslib.render_label(template, values) if "${" in template else template.strip()


def new_label(
    run: Run,
    set_: str | None = None,
    prepend: str | None = None,
    append: str | None = None,
    remove: Iterable[str] = (),
) -> str:
    """The run's label after one of the edits (set, prepend, append, remove words)."""
    current = run.label
    if set_ is not None:
        return render(set_, run)
    if prepend is not None:
        return ("%s %s" % (render(prepend, run), current)).strip()
    if append is not None:
        return ("%s %s" % (current, render(append, run))).strip()
    label = current
    for part in remove:
        label = remove_part(part, label)
    return label


def remove_part(part: str, label: str) -> str:
    """``label`` without the whitespace-separated words equal to ``part``."""
    words = label.split()
    target = part.split()
    out: list[str] = []
    i = 0
    while i < len(words):
        if target and words[i : i + len(target)] == target:
            i += len(target)
            continue
        out.append(words[i])
        i += 1
    return " ".join(out)


def set_label(run: Run, label: str | None) -> None:
    """Write the label, or delete it when None or empty."""
    if label:
        run.write_attr("label", label)
    else:
        run.del_attr("label")


def run_tags(run: Run) -> list[str]:
    tags = run.get("tags")
    return [str(t) for t in tags] if isinstance(tags, list) else []


def new_tags(old: list[str], add: Iterable[str] = (), delete: Iterable[str] = (), clear: bool = False) -> list[str]:
    """Sorted tags after clearing/deleting then adding."""
    tags = set() if clear else set(old)
    tags.difference_update(delete)
    tags.update(add)
    return sorted(tags)


def synced_label(label: str, old_tags: list[str], tags: list[str]) -> str:
    """``label`` with removed tags dropped and added tags put in front."""
    removed = [t for t in old_tags if t not in tags]
    added = [t for t in tags if t not in old_tags]
    for t in removed:
        label = remove_part(t, label)
    return " ".join(added + ([label] if label else []))


def check_exclusive(given: dict[str, bool]) -> None:
    """At most one of the named options may be given."""
    names = [n for n, v in given.items() if v]
    if len(names) > 1:
        raise GuildError("%s cannot be used with %s" % (names[0], names[1]))




# ------------------------------------------------------------------ marks


def is_marked(run: Run) -> bool:
    """Whether the run carries Guild's ``marked`` attr with a true value."""
    return bool(run.get("marked"))


def set_marked(run: Run, marked: bool) -> None:
    """Mark a run (attr ``marked: true``) or remove the mark (delete the attr)."""
    if marked:
        run.write_attr("marked", True)
    else:
        run.del_attr("marked")


# --------------------------------------------------------------- comments


def run_comments(run: Run) -> list[dict]:
    """The run's comments, oldest first: mappings with ``body``, ``host``, ``time`` (µs) and ``user``."""
    comments = run.get("comments")
    if not isinstance(comments, list):
        return []
    return [c for c in comments if isinstance(c, dict)]


def comment_author(user: str | None = None) -> tuple[str, str]:
    """``(user, host)`` for a new comment: from ``USER[@HOST]``, else ``$USER`` and ``$HOST`` or the host name."""
    import os
    import socket

    host = os.environ.get("HOST") or socket.gethostname()
    if user:
        name, _, given_host = user.partition("@")
        return name, given_host or host
    return os.environ.get("USER") or "", host


def add_comment(run: Run, body: str, user: str, host: str, time_us: int) -> None:
    """Append a comment to the run's ``comments`` attr."""
    comments = run_comments(run)
    comments.append({"body": body, "host": host, "time": time_us, "user": user})
    run.write_attr("comments", comments)


def delete_comment(run: Run, index: int) -> bool:
    """Delete the 1-based ``index``-th comment; False when there is no such comment."""
    comments = run_comments(run)
    if not 1 <= index <= len(comments):
        return False
    del comments[index - 1]
    run.write_attr("comments", comments)
    return True


def clear_comments(run: Run) -> None:
    run.del_attr("comments")
