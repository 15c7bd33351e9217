"""Flag identity: the one canonical form of flag values and every key derived from it.

Guild's ``--needed`` compares flag mappings with ``==``, so ``1``, ``1.0``
and ``True`` are the same value. Everything that asks "is this the same run
request?" derives its key here:

* :func:`canonical`: the mapping with keys sorted (the form stored and planned);
* :func:`param_text`: JSON that keeps ``1``, ``1.0`` and ``True`` apart (Luigi
  parameters and task ids, which must not merge different requests);
* :func:`equality_text`: text equal for values ``==`` finds equal (may also be
  equal for a few exotic values, so a full ``==`` check always follows);
* :func:`dep_flag_name`: the flag that records which upstream run a run
  used, so that a run made from other inputs is a different request;
* :func:`needed_key` (stored in the run index) and :func:`claim_key` (the
  lock a ``--needed`` start takes), both from the operation and that text.

Importing this module imports nothing heavy: it is on the listing path.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~10 ms to import: annotations only
if TYPE_CHECKING:
    from typing import Any

    from luigi_guild.model.opref import OpRef


def canonical(flags: dict[str, Any]) -> dict[str, Any]:
    """A new dict with keys sorted: the one form flags take everywhere."""
    return {k: flags[k] for k in sorted(flags)}


def dep_flag_name(uri: str, name: str | None = None, flag_name: str | None = None, declared: Any = ()) -> str:
    """The flag holding the upstream run id of one ``requires`` entry, named as Guild names it.

    A flag the operation declares wins when it is named after the entry's
    ``flag-name``, ``name``, uri (``operation:prepare``) or the uri's path
    (``prepare``), in that order; otherwise the flag is ``flag-name``, else
    ``name``, else the uri itself.
    """
    path = uri.split(":", 1)[1] if ":" in uri else uri
    for candidate in (flag_name, name, uri, path):
        if candidate and candidate in declared:
            return candidate
    return flag_name or name or uri


def param_text(flags: dict[str, Any]) -> str:
    """Sorted, compact JSON that tells ``1``, ``1.0`` and ``True`` apart (Luigi parameters)."""
    import json

    return json.dumps(canonical(flags), sort_keys=True, separators=(",", ":"), default=str)


def flags_equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Guild's ``--needed`` comparison: plain mapping equality (``1 == 1.0 == True``)."""
    return a == b


def equality_text(val: Any) -> str:
    """Text equal for values Python finds equal (``1 == 1.0 == True``); may be equal for others.

    This text is hashed into keys stored in the run index: it must never change.
    """
    if isinstance(val, bool):
        val = int(val)
    if isinstance(val, float) and val.is_integer():
        val = int(val)
    if isinstance(val, int):
        return "i%d" % val
    if isinstance(val, float):
        return "f%r" % val
    if isinstance(val, str):
        return "s%r" % val
    if val is None:
        return "n"
    if isinstance(val, list):
        return "[%s]" % ",".join(equality_text(v) for v in val)
    if isinstance(val, dict):
        return "{%s}" % ",".join(sorted("%s:%s" % (equality_text(k), equality_text(v)) for k, v in val.items()))
    return "?"  # other types: every such value shares this text (a full check follows)


def _request_text(opref: OpRef, flags: Any) -> str:
    return opref.encode() + "\n" + equality_text(flags if isinstance(flags, dict) else {})


def needed_key(opref_line: str | OpRef | None, flags: Any) -> int | None:
    """A number equal for runs that can match the same ``--needed`` query; None = unknown.

    Stored in the run index, so only narrows a search: every run it selects
    is checked in full.
    """
    import zlib

    if opref_line is None:
        return None
    from luigi_guild.model.opref import OpRef

    try:
        opref = opref_line if isinstance(opref_line, OpRef) else OpRef.parse(opref_line)
        text = _request_text(opref, flags)
    except (ValueError, RecursionError):
        return None
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


def claim_key(opref: OpRef, flags: dict[str, Any]) -> str:
    """The name of the lock for starting ``opref`` with ``flags``: equal requests share it."""
    import hashlib

    return hashlib.sha1(_request_text(opref, flags).encode("utf-8", "surrogatepass")).hexdigest()
