"""What a file was rendered from, so that a publish need not render it again.

Rendering every file (above all the RFC 5005 archive pages) on every publish makes a
publish cost grow with the whole history, although most files' content does not change.  The cache
keeps, per file name, a digest of everything the file was rendered from (with
coopfeed's version), a digest of the bytes written and the file's stat status then
(inode, size, modification and change times).  A file is *fresh* when both still hold:
its inputs are the same, and the file on disk is what was written: its status is the
one recorded (as make and git tell, without reading the file), else its bytes hash to
the digest recorded.  Anything else (no cache, an unreadable one, a file changed or
removed by hand, a new coopfeed) renders again, so the cache can only save work, never
change a byte of output.

It lives beside the files as ``.coopfeed-render`` (hidden: never served, never listed
as a stray), written atomically like them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from coopfeed import __version__
from coopfeed.publish.archive import Document
from coopfeed.publish.files import file_digest, write_if_changed
from coopfeed.types import Item

NAME = ".coopfeed-render"


class Digests:
    """Digests of what files are rendered from: items, documents, tuples and anything
    whose repr says all it holds (the Site, strings, datetimes).

    An item is in several files (its category's, the "all" feed's, an HTML page): its
    own digest is computed once per publish (items are frozen; the ones digested are
    kept alive, so their ids stay theirs).  With ``stored`` (guid -> the store's
    content digest of the item, see ``Store.published``), an item's digest is made of
    that, its categories and its link (the fields a publish sets from the
    configuration), not of its text: the item's summary need not be loaded to know
    whether a file that shows it changed.
    """

    def __init__(self, stored: Mapping[str, int] | None = None) -> None:
        self._items: dict[int, tuple[Item, bytes]] = {}
        self._stored = stored

    def __call__(self, *inputs: object) -> str:
        h = hashlib.blake2b(__version__.encode(), digest_size=16)
        for one in inputs:
            self._update(h, one)
        return h.hexdigest()

    def _update(self, h: Any, value: object) -> None:
        if isinstance(value, Item):
            h.update(self._item(value))
        elif isinstance(value, Document):
            fields = (value.stem, value.archive, value.current, value.prev_archive)
            h.update(repr((*fields, value.next_archive, value.updated, len(value.items))).encode())
            for item in value.items:
                h.update(self._item(item))
        elif isinstance(value, tuple):
            h.update(b"(%d" % len(value))
            for one in value:
                self._update(h, one)
        else:
            h.update(repr(value).encode())
        h.update(b"\x00")

    def _item(self, item: Item) -> bytes:
        known = self._items.get(id(item))
        if known is not None and known[0] is item:
            return known[1]
        stored = self._stored.get(item.guid) if self._stored is not None else None
        if stored is None:
            text = repr(tuple(getattr(item, name) for name in Item.__slots__))
        else:
            text = repr((item.guid, stored, item.categories, item.link))
        value = hashlib.blake2b(text.encode(), digest_size=16).digest()
        self._items[id(item)] = (item, value)
        return value


class RenderCache:
    def __init__(self, output_dir: Path, data: dict[str, object]) -> None:
        self.output_dir = output_dir
        self.path = output_dir / NAME
        files = data.get("files")
        self._old = files if isinstance(files, dict) else {}  # name -> [inputs, bytes]
        self._new: dict[str, list[str]] = {}
        self._pending: dict[str, str] = {}  # name -> digest of what is being rendered
        self._placed: list[str] = []  # written: their status is read on saving
        # The digest of everything the last whole publish was made from (see publish_all).
        self.published_from = data.get("published_from")
        self.published_to: str | None = None
        # What the last publish showed of each feed (see .record), as JSON; None: none.
        self.record: object = data.get("record")

    @classmethod
    def load(cls, output_dir: Path) -> RenderCache:
        try:
            data = json.loads((output_dir / NAME).read_bytes())
        except (OSError, ValueError):
            data = {}
        return cls(output_dir, data if isinstance(data, dict) else {})

    def fresh(self, name: str, key: str) -> bool:
        """True when ``name`` on disk is what rendering the inputs whose digest is
        ``key`` (see :class:`Digests`) would write; else remembers the digest, for
        :meth:`wrote` to record."""
        old = self._old.get(name)
        if not _is_entry(old) or old[0] != key:  # type: ignore[index]
            self._pending[name] = key
            return False
        status = self._status(name)
        if status is not None and old[2:] == [status]:  # type: ignore[index]
            self._new[name] = old  # type: ignore[assignment]
            return True
        if status is not None and old[1] == self._hash(name):  # type: ignore[index]
            self._new[name] = [key, old[1], status]  # type: ignore[index]
            return True
        self._pending[name] = key
        return False

    def kept(self, name: str) -> bool:
        """True when ``name`` on disk is what the last publish wrote (:meth:`fresh`
        with the inputs it was rendered from): a publish that leaves it as it is."""
        old = self._old.get(name)
        return _is_entry(old) and self.fresh(name, old[0])  # type: ignore[index]

    def wrote(self, name: str, digest: str) -> None:
        """``name`` holds bytes whose :func:`file_digest` is ``digest`` (or will, once
        its group of files is in place: its status is read when the cache is saved),
        rendered from the inputs :meth:`fresh` was given."""
        key = self._pending.pop(name, None)
        if key is not None:
            self._new[name] = [key, digest]
            self._placed.append(name)

    def save(self) -> None:
        """Record the files as they are now (every one written is in place)."""
        for name in self._placed:
            status = self._status(name)
            if status is not None:
                self._new[name].append(status)
        self._placed.clear()
        record: dict[str, object] = {"files": self._new, "published_from": self.published_to}
        if self.record is not None:
            record["record"] = self.record
        data = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
        write_if_changed(self.path, data)

    def _hash(self, name: str) -> str | None:
        try:
            return file_digest((self.output_dir / name).read_bytes())
        except OSError:
            return None

    def _status(self, name: str) -> str | None:
        """What ``stat`` says of ``name``: its inode, size, and the times of its last
        change, in nanoseconds (the change time, unlike the modification time, no
        program can set: it moves with any write).  None when it cannot be read."""
        try:
            st = (self.output_dir / name).stat()
        except OSError:
            return None
        return f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def record_inputs(output_dir: Path, inputs: str | None) -> None:
    """Set what the files in ``output_dir`` were published from (see RenderCache).  A
    cache that cannot be written costs the next publish its shortcut, nothing more."""
    cache = RenderCache.load(output_dir)
    cache._new = {k: v for k, v in cache._old.items() if _is_entry(v)}
    cache.published_to = inputs
    try:
        cache.save()
    except OSError:
        pass


def _is_entry(value: object) -> bool:
    """[inputs digest, bytes digest], and the file's stat status when it was recorded."""
    return (
        isinstance(value, list) and len(value) in (2, 3) and all(isinstance(v, str) for v in value)
    )
