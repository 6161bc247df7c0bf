"""Feeds and the Site in, the published files out: per feed ``<slug>.html``, RFC 5005
archive pages ``<slug>.archive-<n>.rss``/``.atom``, then ``<slug>.rss``, ``<slug>.atom``
and ``<slug>.json``; once ``index.html`` and ``feeds.opml``.

:func:`publish` renders the files (in worker processes when it is handed some) and
writes each atomically, in an order that keeps every link resolving, and only when its
bytes changed.  It reports which files it wrote and which it left alone, the archive
pages that became full (the caller stores them and hands them back as ``full_pages``,
which keeps full pages from ever changing) and the URLs of the feed documents whose
bytes changed (to ping a WebSub hub with :func:`ping_hub`).  An ``OSError`` becomes a
``PublishError`` that names the path and the reason.

:func:`publish_views` does the same from each feed's :class:`~.record.View`: a publish
of what changed since the last one (:mod:`.changes`) shows only some feeds and pages
anew and leaves the other files as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from operator import attrgetter
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from coopfeed.exceptions import PublishError
from coopfeed.publish.archive import Document, archive_stem
from coopfeed.publish.cache import NAME as RENDER_CACHE
from coopfeed.publish.cache import Digests, RenderCache, record_inputs
from coopfeed.publish.feeds import ATOM, JSON, RSS, feed_url, render_atom, render_rss
from coopfeed.publish.files import FileGroup, Staged, stage, sweep_temp_files, write_if_changed
from coopfeed.publish.html import render_html
from coopfeed.publish.index import OPML_NAME, Listed, index_page, render_index
from coopfeed.publish.jsonfeed import render_json
from coopfeed.publish.opml import opml_list, render_opml
from coopfeed.publish.record import FeedRecord, Mark, Record, View, whole_views
from coopfeed.publish.websub import ping_hub
from coopfeed.types import Feed, Item, Site
from coopfeed.workers import Job, WorkerDied, Workers

__all__ = [
    "MANIFEST",
    "PublishReport",
    "RENDER_CACHE",
    "Unsettled",
    "last_record",
    "ping_hub",
    "publish",
    "publish_views",
    "published_from",
    "record_inputs",
    "render_atom",
    "render_html",
    "render_index",
    "render_json",
    "render_opml",
    "render_rss",
    "sweep_temp_files",
    "write_if_changed",
]

INDEX_NAME = "index.html"

# A slug is a file name stem (DESIGN 9): no folder separator, not hidden, not "..".
_SAFE_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_NO_PAGES: Mapping[str, Mapping[int, tuple[str, ...]]] = MappingProxyType({})


@dataclass(frozen=True)
class PublishReport:
    """What :func:`publish` did.

    ``written`` and ``unchanged`` are file names (not paths).  ``new_pages`` maps a feed's
    slug to the archive pages that became full in this publish (page number -> guids,
    oldest first): store them and pass them back as ``full_pages``.  ``changed_feeds``
    are the URLs of the current RSS, Atom and JSON Feed documents whose bytes changed,
    the topics to ping a WebSub hub with (archive pages advertise no hub).
    """

    written: tuple[str, ...]
    unchanged: tuple[str, ...]
    new_pages: dict[str, dict[int, tuple[str, ...]]]
    changed_feeds: tuple[str, ...]
    removed: tuple[str, ...] = ()
    partial: bool = False  # only what changed since the last publish was read (.changes)


class Stored(Protocol):
    """What the store tells a publish of the items it hands over (``Store.published``).

    ``digests`` map each item's guid to a digest of its stored content: files are
    rendered again when the digests of what they show changed, without comparing text.
    When ``complete`` is False the items' summaries were left empty, and
    ``summaries(guids)`` gives them for the documents that are rendered: a publish then
    holds the text of a few documents at a time, not of the whole store.
    """

    @property
    def digests(self) -> Mapping[str, int]: ...

    @property
    def complete(self) -> bool: ...

    def summaries(self, guids: Sequence[str]) -> Mapping[str, str]: ...


@dataclass(frozen=True, slots=True)
class _Rendered:
    files: list[str]  # every file published, in order
    topics: dict[str, str]  # file name of a current feed document -> its URL
    new_pages: dict[str, dict[int, tuple[str, ...]]]


def publish(
    feeds: Sequence[Feed],
    site: Site,
    output_dir: Path,
    *,
    full_pages: Mapping[str, Mapping[int, tuple[str, ...]]] = _NO_PAGES,
    inputs: str | None = None,
    workers: Workers | None = None,
    stored: Stored | None = None,
) -> PublishReport:
    """Write every file of every feed into ``output_dir``, then the index and the OPML list.

    ``feeds`` hold all of a category's items, newest first; ``full_pages[slug]`` are the
    archive pages that earlier publishes reported full (see :mod:`.archive`).  Creates
    ``output_dir`` when needed and first removes temporary files that an interrupted
    earlier run left there.  Per feed the HTML page is written first (an item's link into
    the page works as soon as a reader sees the item), then the archive pages, oldest
    first, then the current documents, so that every link a document holds resolves.

    ``inputs`` is a digest of everything the feeds were built from, for
    :func:`published_from` to find on the next publish.  With ``workers``, the files
    are rendered in their processes (see :mod:`coopfeed.workers`).  ``stored`` says
    what the store knows of the items, when they come from it (see :class:`Stored`):
    each item as the store gave it, but for its categories and link.
    """
    views = whole_views(feeds, site, full_pages, {})
    return publish_views(views, site, output_dir, inputs=inputs, workers=workers, stored=stored)


class Unsettled(Exception):
    """A file that a publish of what changed would leave as it is is not as the last
    publish wrote it (removed or edited by hand): only a whole publish can make it."""


def publish_views(
    views: Sequence[View],
    site: Site,
    output_dir: Path,
    *,
    inputs: str | None = None,
    workers: Workers | None = None,
    stored: Stored | None = None,
    mark: Mark | None = None,
) -> PublishReport:
    """:func:`publish` of the feeds as ``views`` show them (see :mod:`.record`): the
    files of a view whose documents did not change are left as they are.  With
    ``mark`` (where the items were read), the views' record is kept for the next
    publish to start from (see :mod:`.changes`); without, any record kept is dropped.  Raises
    :class:`Unsettled`, before writing any file, when a file to leave as it is is not
    as it was written.
    """
    _check_slugs([view.feed for view in views])
    cache = RenderCache.load(output_dir)
    cache.published_to = inputs
    cache.record = None
    if mark is not None:
        cache.record = Record(mark, tuple(view.record for view in views)).to_json()
    rendered = _Rendered(files=[], topics={}, new_pages={})
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        # publish() runs under the store's lock: any temp file left here is stale.
        sweep_temp_files(output_dir, older_than=0)
    except OSError as e:
        raise PublishError(f"cannot prepare folder {output_dir}: {_reason(e)}") from e
    written: list[str] = []
    unchanged: list[str] = []
    plan = list(_plan(views, site, cache, rendered, stored, output_dir))
    fill = _Filler(stored)
    # Files are written in order, each as soon as it is rendered: in worker processes a
    # few documents ahead (RENDER_AHEAD), else one at a time, so a publish holds the
    # bytes (and the summaries) of a few files, never of all.
    jobs = [job for _, job, here in plan if job is not None and not here]
    filled = fill.each(jobs, RENDER_AHEAD)
    done = (workers or Workers(0)).imap(filled, RENDER_AHEAD, len(jobs))
    files = FileGroup(output_dir)  # made durable and put in place a group at a time
    try:
        for names, job, here in plan:
            if job is None:  # the cache vouches for the files as they are
                unchanged.extend(names)
                continue
            try:
                if here:
                    function, args = fill(job)
                    datas = zip(names, function(*args), strict=True)
                    made = tuple(stage(output_dir / name, data) for name, data in datas)
                else:
                    made = next(done)  # staged by the worker that rendered them
            except WorkerDied as e:
                raise PublishError(f"cannot render {', '.join(names)}: {e}") from e
            except OSError as e:
                raise PublishError(f"cannot write {e.filename}: {_reason(e)}") from e
            if names[0] in rendered.topics:
                # What a feed's current documents link to is in place and durable first.
                _commit(files)
            for name, staged in zip(names, made, strict=True):
                try:
                    changed = files.add(staged)
                except OSError as e:
                    raise PublishError(f"cannot write {e.filename}: {_reason(e)}") from e
                (written if changed else unchanged).append(name)
                cache.wrote(name, staged.digest)
        _commit(files)
    finally:
        files.discard()  # an interrupted publish leaves no temporary file
    removed = _remove_unpublished(output_dir, rendered.files)
    try:
        cache.save()
    except OSError as e:
        raise PublishError(f"cannot update {cache.path}: {_reason(e)}") from e
    return PublishReport(
        written=tuple(written),
        unchanged=tuple(unchanged),
        removed=removed,
        new_pages=rendered.new_pages,
        changed_feeds=tuple(rendered.topics[name] for name in written if name in rendered.topics),
        partial=any(view.exact is not None for view in views),
    )


#: The names of the files the last publish wrote, one a line (hidden: never served).
MANIFEST = ".coopfeed-published"


def published_from(output_dir: Path, inputs: str) -> tuple[str, ...] | None:
    """The files of the last publish into ``output_dir`` when it was made from ``inputs``
    (see :func:`publish`) and every one of them is still there; else None."""
    if RenderCache.load(output_dir).published_from != inputs:
        return None
    try:
        names = tuple((output_dir / MANIFEST).read_text(encoding="utf-8").split())
    except OSError:
        return None
    if not names or not all((output_dir / name).is_file() for name in names):
        return None
    return names


def last_record(output_dir: Path) -> Record | None:
    """What the last publish into ``output_dir`` kept of its feeds (see :mod:`.record`),
    when it kept it."""
    data = RenderCache.load(output_dir).record
    return None if data is None else Record.from_json(data)


def _remove_unpublished(output_dir: Path, names: Sequence[str]) -> tuple[str, ...]:
    """Remove the files an earlier publish wrote that nothing publishes any more (a
    renamed category's feeds); files coopfeed did not write are never touched."""
    manifest = output_dir / MANIFEST
    try:
        before = set(manifest.read_text(encoding="utf-8").split()) if manifest.exists() else set()
        gone = sorted(before - set(names))
        for name in gone:
            if _SAFE_SLUG.fullmatch(name):  # a plain name in this folder, never a path
                (output_dir / name).unlink(missing_ok=True)
        write_if_changed(manifest, "".join(f"{name}\n" for name in sorted(names)).encode())
    except OSError as e:
        raise PublishError(f"cannot update {manifest}: {_reason(e)}") from e
    return tuple(gone)


def _check_slugs(feeds: Sequence[Feed]) -> None:
    """A bad or repeated slug is a caller's bug: refused before any file is written."""
    seen: set[str] = set()
    for feed in feeds:
        if not _SAFE_SLUG.fullmatch(feed.slug) or feed.slug.casefold() in seen:
            raise ValueError(f"unsafe or repeated feed slug: {feed.slug!r}")
        seen.add(feed.slug.casefold())


def _plan(
    views: Sequence[View],
    site: Site,
    cache: RenderCache,
    rendered: _Rendered,
    stored: Stored | None,
    output_dir: Path,
) -> Iterator[tuple[tuple[str, ...], Job[tuple[Any, ...]] | None, bool]]:
    """Every file to write, in order, in groups made from the same document: their
    names, the job that renders them (None when the cache says every one is as it
    would be rendered) and whether that job is to run here.  The names, topics and
    newly full pages go into ``rendered``.  A job for a worker carries what its files
    are made from and no more (a document's items, not its feed's), to be handed over
    cheaply."""
    digest = Digests(stored.digests if stored is not None else None)

    def group(
        names: tuple[str, ...], key: str | None, job: Job[tuple[Any, ...]], here: bool = False
    ) -> tuple[tuple[str, ...], Job[tuple[Any, ...]] | None, bool]:
        """``names`` made from the inputs whose digest is ``key`` (None: always made)."""
        rendered.files.extend(names)
        # Every name is asked (no short cut): fresh() records each one's digest.
        stale = key is None or [name for name in names if not cache.fresh(name, key)]
        return names, job if stale else None, here

    def kept(names: tuple[str, ...]) -> tuple[tuple[str, ...], None, bool]:
        """``names`` left as the last publish wrote them (see :class:`Unsettled`)."""
        rendered.files.extend(names)
        for name in names:
            if not cache.kept(name):
                raise Unsettled(f"{name} is not as the last publish wrote it")
        return names, None, False

    for view in views:
        feed, paging = view.feed, view.paging
        html = (f"{feed.slug}.html",)
        current = tuple(f"{feed.slug}.{extension}" for extension in _CURRENT)
        for extension in _CURRENT:
            rendered.topics[f"{feed.slug}.{extension}"] = feed_url(site, feed.slug, extension)
        if paging is None:  # nothing the feed shows changed
            yield kept(html)
            for number in range(1, view.record.archives + 1):
                yield kept(_archive_names(archive_stem(feed.slug, number)))
            yield kept(current)
            continue
        head = replace(feed, items=())  # what a document needs of its feed
        # Each file is rendered only when what it is made from changed since it was
        # written (see .cache): a publish costs what changed, not what is stored.
        key = digest(site, feed.slug, feed.title, view.html)
        # Rendered here: an archive's page shows every archive item (10,000 in the bench),
        # which a worker would hold twice over (pickled and read back) for one file.
        on_page = replace(feed, items=view.html)
        yield group(html, key, (_one, (render_html, on_page, site)), here=True)
        for number, page in enumerate(paging.archives, 1):
            names = _archive_names(page.stem)
            if not view.is_exact(number):
                yield kept(names)
                continue
            key = digest(site, feed.slug, feed.title, page)
            paths = tuple(output_dir / name for name in names)
            yield group(names, key, (_render, (paths, (RSS, ATOM), head, site, page)))
        key = digest(site, feed.slug, feed.title, paging.current)
        paths = tuple(output_dir / name for name in current)
        yield group(current, key, (_render, (paths, _CURRENT, head, site, paging.current)))
        if paging.sealed:
            rendered.new_pages[feed.slug] = paging.sealed
    # These two list every feed: rendered here too.
    listing = [_listed(view.record) for view in views]
    yield group((INDEX_NAME,), None, (_one, (index_page, listing, site)), here=True)
    yield group((OPML_NAME,), None, (_one, (opml_list, listing, site)), here=True)


def _archive_names(stem: str) -> tuple[str, str]:
    return f"{stem}.{RSS}", f"{stem}.{ATOM}"


def _listed(record: FeedRecord) -> Listed:
    return Listed(record.slug, record.title, record.count, record.newest, record.latest)


class _Filler:
    """Jobs whose feeds and documents hold items without their summaries (see
    :class:`Stored`) -> the same jobs with them, loaded from the store."""

    def __init__(self, stored: Stored | None) -> None:
        self.stored = stored if stored is not None and not stored.complete else None

    def __call__(self, job: Job[tuple[Any, ...]]) -> Job[tuple[Any, ...]]:
        return next(self.each([job], 1))

    def each(
        self, jobs: Sequence[Job[tuple[Any, ...]]], window: int
    ) -> Iterator[Job[tuple[Any, ...]]]:
        """Each of ``jobs`` filled, as it is asked for; the summaries of ``window`` jobs
        at a time are loaded together."""
        for start in range(0, len(jobs), window):
            chunk = jobs[start : start + window]
            if self.stored is None:
                yield from chunk
                continue
            guids = [item.guid for job in chunk for arg in job[1] for item in _items_of(arg)]
            summaries = self.stored.summaries(list(dict.fromkeys(guids)))
            for function, args in chunk:
                yield function, tuple(_filled(arg, summaries) for arg in args)


def _items_of(arg: object) -> tuple[Item, ...]:
    """The items of a job's argument whose summaries it shows."""
    return arg.items if isinstance(arg, Feed | Document) else ()


def _filled(arg: object, summaries: Mapping[str, str]) -> object:
    if isinstance(arg, Feed | Document):
        items = tuple(_with_summary(item, summaries.get(item.guid, "")) for item in arg.items)
        return replace(arg, items=items)
    return arg  # the site, or all feeds for the index and OPML (no summaries shown)


def _with_summary(item: Item, summary: str) -> Item:
    """``replace(item, summary=summary)``, at half the cost: every other field as it is
    (every one there is, so that a field Item gains is never dropped here)."""
    values = list(_ITEM_FIELDS(item))
    values[_SUMMARY] = summary
    return Item(*values)


#: Item's fields in its constructor's order (a slotted dataclass's slots), and where
#: the summary is among them.
_ITEM_FIELDS = attrgetter(*Item.__slots__)
_SUMMARY = Item.__slots__.index("summary")


def _render(
    paths: Sequence[Path], extensions: Sequence[str], feed: Feed, site: Site, document: Document
) -> tuple[Staged, ...]:
    """The files of ``document`` in each of ``extensions``, written beside ``paths`` (see
    :func:`~coopfeed.publish.files.stage`): one job for a worker."""
    return tuple(
        stage(path, _RENDERERS[extension](feed, site, document))
        for path, extension in zip(paths, extensions, strict=True)
    )


def _one(render: Callable[..., bytes], *args: object) -> tuple[bytes]:
    """One file, as a group of one."""
    return (render(*args),)


#: How many documents worker processes render ahead of the one being written.
RENDER_AHEAD = 16


#: The current documents of a feed, by extension.
_CURRENT = (RSS, ATOM, JSON)
_RENDERERS: dict[str, Callable[[Feed, Site, Document], bytes]] = {
    RSS: render_rss,
    ATOM: render_atom,
    JSON: render_json,
}


def _commit(files: FileGroup) -> None:
    try:
        files.commit()
    except OSError as e:
        raise PublishError(f"cannot write {e.filename or files.folder}: {_reason(e)}") from e


def _reason(error: OSError) -> str:
    """The OS's words for an error ("Permission denied"), without errno and path."""
    return error.strerror or str(error)
