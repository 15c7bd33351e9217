"""The run index: a derived cache of what listings and ``--needed`` read.

This is the single place that answers "which runs are there, in which order"
and "which runs match this operation and flags". Run directories stay the
truth; the index only saves re-reading files that have not changed.

One file per runs directory, ``$GUILD_HOME/cache/runs-index``, holds per run:
the opref line, the attrs ``started``/``initialized``/``label``/
``exit_status``/``flags``/``stopped`` (decoded), which sentinels exist
(and whether ``.guild/proto`` makes it a batch run), and a *stamp*
(mtime, ctime, inode, size) for ``.guild/`` and for each file read. It is
written atomically (temp file + rename), guarded by a checksum, and never
required: delete or corrupt it and it is rebuilt on demand.

Before a value is used its stamps are compared with the files':

* ``.guild/`` changes whenever a sentinel (``PENDING``, ``STAGED``,
  ``LOCK``, ``LOCK.remote``) or the opref is created, removed or renamed --
  every start, restart, stop and finish of a run by this tool or by guildai.
  Ordering (``started``) is checked against this stamp alone.
* each attr file's own stamp catches in-place rewrites (guildai writes attrs
  in place; ``guild label`` in guildai does too) and renames (this tool).
  Rows that are shown check the files they show; ``--needed`` checks
  ``flags`` for every run and every file for candidate matches.
* a stamp that is younger than :data:`RACY_NS` when read is not trusted (a
  write in the same clock tick would not change it): such a run is read
  again next time, until it has been quiet long enough.
* the set of runs is always the directory listing, so runs added or removed
  by anyone are seen at once.

The status is never stored: :attr:`Run.status` infers it from the stored
inputs, and a run whose status hangs on a live pid (``LOCK`` and no
``exit_status``) has its ``LOCK`` pid read and checked every time.
"""

from __future__ import annotations

import marshal
import os
import time

from luigi_guild.model import home
from luigi_guild.model.flagid import flags_equal, needed_key
from luigi_guild.model.opref import OpRef
from luigi_guild.model.status import Status
from luigi_guild.store.indexfile import (
    ALL_FILES,
    B_ATTRS,
    B_FILES,
    B_OPREF,
    B_REMOTE,
    B_SENTINELS,
    F_FLAGS,
    F_EXIT_STATUS,
    F_LABEL,
    G_DIR,
    H_FLAGS,
    HEAD_LEN,
    H_EXIT_STATUS,
    H_GUILD,
    H_KEY,
    H_LABEL,
    H_SETTLED,
    H_TS,
    NEEDED_FILES,
    ORDER_FILES,
    RACY_NS,
    SHOW_FILES,
    _FILES,
    _FLAGS_ONLY,
    _G_ONLY,
    _MAGIC,
    _body_ok,
    _head_ok,
    _read_index,
    _stamp,
    index_path,
    read_entry,
)
from luigi_guild.store.rundir import DAMAGE_KEY, Run

TYPE_CHECKING = False  # typing costs ~10 ms to import: annotations only
if TYPE_CHECKING:
    from typing import Any, Iterable, Iterator


_SHOWN = frozenset(SHOW_FILES)


class RunIndex:
    """The runs of one runs directory, listed now, with cached fields checked on use.

    ``RunIndex.load(root)`` lists the directory and loads the cache; then
    :meth:`runs` orders, :meth:`snapshot` gives rows to show, :meth:`needed`
    answers ``--needed`` (repeatedly and cheaply, for sweeps), and
    :meth:`save` writes back what was re-read. Each run's stamps are checked
    at most once per index object, so one object answers one listing or one
    scheduling pass; :meth:`refresh` starts a new pass.
    """

    def __init__(self, root: str, path: str):
        self.root = root
        self.path = path
        self._heads, self._bodies_loader, file_id = _read_index(path, root)
        # The index file's content as loaded (None: no usable file); see indexfile._read_index.
        self.file_id: tuple | None = file_id
        self._bodies: dict[str, tuple] = {}
        self._raw_bodies: dict[str, bytes] = {}  # as loaded, not yet decoded
        self._bodies_loaded = self._bodies_loader is None
        self._dirty = False
        self._names: list[str] = []
        self._root_mtime: int | None = None
        self._root_stamp: int | None = None
        self._listed_ns = 0
        self._checked: dict[str, frozenset[int] | None] = {}
        self._oprefs: dict[str, OpRef | None] = {}
        self._by_key: dict[Any, list[str]] | None = None
        self._unkeyed: list[str] = []
        self._queries = 0
        self._order: list[str] | None = None

    @classmethod
    def load(cls, root: str | None = None) -> "RunIndex":
        """The index for ``root`` (default: Guild home's runs directory), listed now."""
        root = os.path.abspath(root or home.runs_dir())
        index = cls(root, index_path(root))
        index._list()
        return index

    # ------------------------------------------------------------ listing

    def _list(self) -> None:
        self._listed_ns = time.time_ns()
        try:
            st = os.stat(self.root)
            self._root_mtime = st.st_mtime_ns
            self._root_stamp = hash((st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_size))
            names = os.listdir(self.root)
        except OSError:
            self._root_mtime = self._root_stamp = None
            names = []
        self._names = [n for n in names if not n.startswith(".")]  # hidden: runs being created
        self._order = None  # ids() as of this listing (latest_of_operation)
        if not self._heads.keys() <= set(self._names):
            self._dirty = True  # runs removed since the last save are dropped when saving

    def refresh(self) -> None:
        """List the directory again and forget which stamps were checked."""
        self._checked.clear()
        self._by_key = None
        self._unkeyed = []
        self._queries = 0
        self._list()

    def _listing_changed(self) -> bool:
        """Whether runs may have been added or removed since the listing (cheap: one stat)."""
        if _stamp(self.root) != self._root_stamp:
            return True
        return self._root_mtime is not None and self._listed_ns - self._root_mtime <= RACY_NS

    # ------------------------------------------------------------ entries

    def entry(self, name: str, files: tuple[int, ...] = ORDER_FILES, fresh: bool = False) -> tuple | None:
        """Run ``name``'s entry head with the stamps ``files`` checked; None if not a run.

        Stamps already checked by this index object are not checked again,
        unless ``fresh``. :meth:`values` then gives the checked values.
        """
        head = self._heads.get(name)
        done = frozenset() if fresh else self._checked.get(name, frozenset())
        if done is None:  # read in full during this pass
            return head
        todo = [i for i in files if i not in done]
        if not todo:
            return head
        if head is not None and (done or (_head_ok(head) and head[H_SETTLED])):
            run_dir = self.root + "/" + name
            ok = True
            body = None
            for i in todo:
                if i == G_DIR:
                    ok = _stamp(run_dir + "/.guild") == head[H_GUILD]
                else:
                    body = body or self.values(name)
                    ok = body is not None and _stamp(run_dir + "/" + _FILES[i]) == body[B_FILES][i]
                if not ok:
                    break
            if ok:
                self._checked[name] = done.union(todo)
                return head
        return self._reread(name)

    def _reread(self, name: str) -> tuple | None:
        read = read_entry(self.root + "/" + name, None, RACY_NS)
        self._checked[name] = None
        if read is None:
            self._bodies.pop(name, None)
            self._raw_bodies.pop(name, None)
            if self._heads.pop(name, None) is not None:
                self._dirty = True
            return None
        head, body = read
        if head != self._heads.get(name) or (self._bodies_loaded and body != self._decoded(name)):
            self._dirty = True
        self._heads[name] = head
        self._raw_bodies.pop(name, None)
        self._bodies[name] = body
        return head

    def values(self, name: str) -> tuple | None:
        """The body of run ``name``'s entry: (file stamps, opref line, attrs, sentinels, remote)."""
        body = self._bodies.get(name)
        if body is None:
            if not self._bodies_loaded:
                self._load_bodies()
            body = self._decoded(name)
        return body

    def _decoded(self, name: str) -> tuple | None:
        """Run ``name``'s body, decoding it from the loaded section on first use."""
        body = self._bodies.get(name)
        if body is None:
            raw = self._raw_bodies.pop(name, None)
            if raw is not None:
                try:
                    decoded = marshal.loads(raw)
                except (ValueError, EOFError, TypeError):
                    decoded = None
                if _body_ok(decoded):
                    body = self._bodies[name] = decoded
        return body

    def _load_bodies(self) -> None:
        loaded = self._bodies_loader() if self._bodies_loader else {}
        self._bodies_loader = None
        self._bodies_loaded = True
        for name, raw in loaded.items():
            if name not in self._bodies and type(raw) is bytes:
                self._raw_bodies[name] = raw

    def _opref(self, line: str | None) -> OpRef | None:
        if line is None:
            return None
        try:
            return self._oprefs[line]
        except KeyError:
            pass
        try:
            opref: OpRef | None = OpRef.parse(line)
        except ValueError:
            opref = None
        self._oprefs[line] = opref
        return opref

    def _preloaded(self, name: str) -> Run | None:
        b = self.values(name)
        if b is None:
            return None
        return Run.preloaded(
            name,
            self.root + "/" + name,
            self._opref(b[B_OPREF]),
            b[B_ATTRS],
            frozenset(b[B_SENTINELS]),
            b[B_REMOTE],
            self._heads[name][H_GUILD] if name in self._heads else None,
        )

    # ------------------------------------------------------------ queries

    def _fast_checked(self, rel: str, slot: int, mark: frozenset[int]) -> Iterator[tuple[str, tuple | None]]:
        """Each run's name, with its head when the one stamp ``rel`` (head slot ``slot``) of a settled
        entry still matches (recorded as checked ``mark``), else with None: the caller then takes
        the slow path for that run. The hot loop of listings and ``--needed``, kept inline.
        """
        heads = self._heads
        checked = self._checked
        prefix = self.root + "/"
        for name in self._names:
            head = heads.get(name)
            if (
                head is not None
                and name not in checked
                and type(head) is tuple
                and len(head) == HEAD_LEN
                and head[H_SETTLED] is True
                and type(head[H_TS]) is int
            ):
                try:
                    st = os.stat(prefix + name + rel)
                except OSError:
                    st = None
                if st is not None and hash((st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_size)) == head[slot]:
                    checked[name] = mark
                    yield name, head
                    continue
            yield name, None

    def ids(self) -> list[str]:
        """Every run's id, newest first (by ``started``, else ``initialized``, then id)."""
        keyed = []
        for name, head in self._fast_checked("/.guild", H_GUILD, _G_ONLY):
            if head is None:
                head = self.entry(name)
            if head is not None:
                keyed.append((head[H_TS], name))
        keyed.sort(reverse=True)
        return [name for _, name in keyed]

    def run(self, run_id: str) -> Run:
        """A run of this directory by id (reads its files afresh)."""
        return Run(run_id, self.root + "/" + run_id)

    def runs(self) -> list[Run]:
        """Every run, newest first (by ``started``, else ``initialized``, then id)."""
        root = self.root + "/"
        return [Run(name, root + name) for name in self.ids()]

    def snapshot(self, runs: Iterable[Run]) -> list[Run]:
        """Runs to show: preloaded with checked values, so formatting reads no files.

        Use the result for one listing and drop it; a run that is gone is
        returned as it was given.
        """
        shown = []
        prefix = self.root + "/"
        if not self._bodies_loaded:
            self._load_bodies()
        checked = self._checked
        heads = self._heads
        for run in runs:
            name = run.id
            pre = None
            if run.path == prefix + name:
                # The hot path (a listing has just checked ``.guild/``): the shown files' two
                # stamps compared inline, as :meth:`entry` would.
                body = self._decoded(name) if checked.get(name) == _G_ONLY else None
                if body is not None:
                    stamps = body[B_FILES]
                    run_dir = prefix + name + "/"
                    if _stamp(run_dir + _FILES[F_LABEL]) == stamps[F_LABEL] and (
                        _stamp(run_dir + _FILES[F_EXIT_STATUS]) == stamps[F_EXIT_STATUS]
                    ):
                        checked[name] = _SHOWN
                        pre = Run.preloaded(
                            name, prefix + name, self._opref(body[B_OPREF]), body[B_ATTRS],
                            frozenset(body[B_SENTINELS]), body[B_REMOTE], heads[name][H_GUILD],
                        )
                if pre is None and self.entry(name, SHOW_FILES) is not None:
                    pre = self._preloaded(name)
            shown.append(pre or run)
        return shown

    # ------------------------------------------------------------ every run, checked meanwhile

    def warm(self) -> tuple[list[str], list[tuple], list[str]]:
        """For a table of every run, its stamps checked elsewhere meanwhile (see :func:`check_shown`):
        the listed runs with settled entries, newest first as those say; the stamps to check for
        them, ``(name, .guild/, label, exit_status)``; and the other listed names (read by
        :meth:`confirm`)."""
        keyed = []
        others = []
        heads = self._heads
        for name in self._names:
            head = heads.get(name)
            if type(head) is tuple and len(head) == HEAD_LEN and head[H_SETTLED] is True and type(head[H_TS]) is int:
                keyed.append((head[H_TS], name, head[H_GUILD], head[H_LABEL], head[H_EXIT_STATUS]))
            else:
                others.append(name)
        keyed.sort(reverse=True)
        return [k[1] for k in keyed], [k[1:] for k in keyed], others

    def unchecked(self, names: list[str]) -> list[Run | None]:
        """Runs ``names`` preloaded as their entries say, no stamp checked yet (:meth:`confirm` does);
        None for a run whose entry has no body or reports damage (reported once confirmed)."""
        if not self._bodies_loaded:
            self._load_bodies()
        prefix = self.root + "/"
        heads = self._heads
        out: list[Run | None] = []
        for name in names:
            b = self._decoded(name)
            opref = self._opref(b[B_OPREF]) if b is not None else None
            if b is None or opref is None or DAMAGE_KEY in b[B_ATTRS] or b[B_REMOTE] == "?":
                out.append(None)
                continue
            out.append(
                Run.preloaded(
                    name, prefix + name, opref, b[B_ATTRS], frozenset(b[B_SENTINELS]), b[B_REMOTE],
                    heads[name][H_GUILD],
                )
            )
        return out

    def confirm(self, names: list[str], runs: list[Run | None], fresh: bytes, others: list[str]) -> list[Run]:
        """Every run, newest first, preloaded: ``runs`` (:meth:`unchecked` of ``names``) where their
        flag in ``fresh`` (:func:`check_shown`) is 1, the others (and ``others``) checked and read
        again now as :meth:`snapshot` would; runs that are gone are left out."""
        out: list[Run] = []
        reread = list(others)
        checked = self._checked
        for name, run, ok in zip(names, runs, fresh):
            if not ok:
                reread.append(name)
                continue
            checked[name] = _SHOWN
            if run is None:
                run = self._preloaded(name)  # reports damage, once per process
                if run is None:  # no usable body: read the run
                    self._reread(name)
                    run = self._preloaded(name)
            if run is not None:
                out.append(run)
        if not reread:
            return out
        for name in reread:
            if self.entry(name, SHOW_FILES, fresh=True) is not None:
                run = self._preloaded(name)
                if run is not None:
                    out.append(run)
        heads = self._heads
        keyed = [(heads[r.id][H_TS], r.id, r) for r in out]
        keyed.sort(key=lambda k: (k[0], k[1]), reverse=True)
        return [k[2] for k in keyed]

    def needed(self, opref: OpRef, flags: dict[str, Any]) -> list[Run]:
        """Runs of ``opref`` with flags equal to ``flags`` (``1 == 1.0``) that are
        completed or terminated, newest first (Guild's ``--needed`` rule)."""
        return self.same(opref, flags, Status.AVAILABLE)

    def same(self, opref: OpRef, flags: dict[str, Any], statuses: tuple[str, ...] | None = None) -> list[Run]:
        """Runs of ``opref`` with flags equal to ``flags`` (``1 == 1.0``), newest
        first; only those whose status is in ``statuses`` unless it is None.

        Every run's ``flags`` stamp is checked once per index object and its
        stored (operation, flags) key compared; from the second call on, a map
        from keys to runs answers, so many calls (one per sweep trial) cost a
        lookup each. Candidates are checked in full on every call. Runs added
        or removed meanwhile are seen at once (one stat of the runs
        directory); other changes to runs that did not match are seen after
        :meth:`refresh`.
        """
        self._queries += 1
        key = needed_key(opref, flags)
        if self._queries > 1 and self._listing_changed():
            known = set(self._names)
            self._list()
            if self._by_key is not None:
                self._add_keys([n for n in self._names if n not in known])
        if self._queries == 1:
            names = self._first_candidates(key)
        else:
            if self._by_key is None:
                self._by_key = {}
                self._add_keys(self._names)
            names = self._by_key.get(key, []) + self._by_key.get(None, []) if key is not None else list(self._names)
        found = []
        for name in names:
            head = self._checked_in_full(name)
            body = self.values(name) if head is not None else None
            if head is None or body is None or self._opref(body[B_OPREF]) != opref or not flags_equal(_flags(body), flags):
                continue
            if statuses is not None:
                run = self._preloaded(name)
                if run is None or run.status not in statuses:
                    continue
            found.append((head[H_TS], name))
        found.sort(reverse=True)
        return [Run(name, self.root + "/" + name) for _, name in found]

    def latest_of_operation(self, opref: OpRef, statuses: tuple[str, ...], id_prefix: str = "") -> Run | None:
        """The newest run of ``opref``'s operation (any flags) whose status is in ``statuses``.

        Operations compare with ``OpRef.same_operation`` (the guild.yml digest
        is not compared); ``id_prefix`` narrows to runs whose id starts with it.
        Runs added or removed meanwhile are seen at once (the order is kept per
        listing); each candidate is checked in full, so a run that has just
        finished is seen finished.
        """
        self._queries += 1
        if self._queries > 1 and self._listing_changed():
            self._list()
        if self._order is None:
            self._order = self.ids()
        for name in self._order:
            if not name.startswith(id_prefix):
                continue
            body = self.values(name)
            op = self._opref(body[B_OPREF]) if body is not None else None
            if op is None or not op.same_operation(opref) or self._checked_in_full(name) is None:
                continue
            run = self._preloaded(name)
            if run is not None and run.status in statuses:
                return Run(name, self.root + "/" + name)
        return None

    def _first_candidates(self, key: int | None) -> list[str]:
        """Runs whose key may match ``key``, each run's ``flags`` stamp checked."""
        found = []
        for name, head in self._fast_checked("/" + _FILES[F_FLAGS], H_FLAGS, _FLAGS_ONLY):
            if head is not None:
                if key is None or head[H_KEY] == key or head[H_KEY] is None:
                    found.append(name)
                continue
            k = self._key_of(name)
            if k is not False and (key is None or k == key or k is None):
                found.append(name)
        return found

    def _key_of(self, name: str) -> Any:
        """Run ``name``'s needed key, its ``flags`` stamp checked; ``False`` if not a run."""
        head = self._heads.get(name)
        done = self._checked.get(name, frozenset())
        if head is not None and done is not None and F_FLAGS not in done and _head_ok(head) and head[H_SETTLED]:
            if _stamp(self.root + "/" + name + "/" + _FILES[F_FLAGS]) == head[H_FLAGS]:
                self._checked[name] = done.union((F_FLAGS,))
                return head[H_KEY]
        head = self.entry(name, NEEDED_FILES)
        return False if head is None else head[H_KEY]

    def _checked_in_full(self, name: str) -> tuple | None:
        """Run ``name``'s head with every stamp checked now.

        Until the bodies section is loaded (one ``--needed`` call has few
        candidates), a candidate is simply read afresh. From the second query
        on (sweeps, Luigi builds) the bodies are loaded, so a candidate costs
        a stat per file instead of reading them.
        """
        if self._queries > 1 and not self._bodies_loaded:
            self._load_bodies()
        if self._bodies_loaded or name in self._bodies:
            return self.entry(name, ALL_FILES, fresh=True)
        return self._reread(name)

    def _add_keys(self, names: list[str]) -> None:
        """Add ``names`` to the needed key -> runs map."""
        assert self._by_key is not None
        for name in names:
            key = self._key_of(name)
            if key is not False:
                self._by_key.setdefault(key, []).append(name)

    # ------------------------------------------------------------ saving

    def save(self) -> None:
        """Write the index if anything was re-read; errors are ignored (it is only a cache)."""
        if not self._dirty:
            return
        import zlib

        if not self._bodies_loaded:
            self._load_bodies()
        names = set(self._names)
        heads = {}
        bodies = {}
        for name, head in self._heads.items():
            if name not in names or not _head_ok(head):
                continue
            raw = self._raw_bodies.get(name)  # unchanged since loaded: saved as it was
            if raw is None:
                body = self._bodies.get(name)
                if body is None:
                    continue
                try:
                    raw = marshal.dumps(body)
                except ValueError:  # values marshal cannot store: kept without attrs, never trusted
                    body = body[:B_ATTRS] + ({},) + body[B_ATTRS + 1 :]
                    head = (head[H_GUILD], False) + head[H_TS:]
                    raw = marshal.dumps(body)
            heads[name] = head
            bodies[name] = raw
        try:
            heads_blob = marshal.dumps((self.root, heads))
            bodies_blob = marshal.dumps(bodies)
        except ValueError:
            return
        header = b"%08x%08x%016x" % (zlib.crc32(heads_blob), zlib.crc32(bodies_blob), len(heads_blob))
        tmp = "%s.tmp-%d-%s" % (self.path, os.getpid(), os.urandom(4).hex())
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(_MAGIC + header + heads_blob + bodies_blob)
            os.replace(tmp, self.path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            return
        self._dirty = False


def check_shown(root: str, stamps: list[tuple]) -> tuple[bytes, dict[str, int]]:
    """For each ``(name, .guild/, label, exit_status)`` stamp of :meth:`RunIndex.warm`, 1 when the
    run's files still have them (its entry holds what a table shows), else 0; and the ``.guild/``
    stamp of each run directory whose ``.guild/`` matched (the scalar index need not stat it again).
    Stats only: run in a child process (:mod:`luigi_guild.store.forkcheck`) while the caller preloads.
    """
    flags = bytearray(len(stamps))
    guild: dict[str, int] = {}
    stat = os.stat
    prefix = root + "/"
    label_rel, exit_rel = "/" + _FILES[F_LABEL], "/" + _FILES[F_EXIT_STATUS]
    for i, (name, want_guild, want_label, want_exit) in enumerate(stamps):
        run_dir = prefix + name
        try:
            st = stat(run_dir + "/.guild")
        except OSError:
            continue
        if hash((st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_size)) != want_guild:
            continue
        guild[run_dir] = want_guild
        if _stamp(run_dir + label_rel) == want_label and _stamp(run_dir + exit_rel) == want_exit:
            flags[i] = 1
    return bytes(flags), guild


def _flags(body: tuple) -> dict:
    val = body[B_ATTRS].get("flags")
    return val if isinstance(val, dict) else {}
