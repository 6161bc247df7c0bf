"""Bytes and a path in, a file on disk out: atomic, and untouched when nothing changed.

A crash at any moment leaves either the old file or the new one, never a torn one: the
bytes go to a temporary file in the same folder (``.NAME.XXXXXXXX.coopfeed-tmp``), which
is flushed, fsynced, made world-readable and renamed over the target; then the folder is
fsynced so the rename itself survives a power loss.  A crash between mkstemp and rename
leaves a temporary file behind: :func:`sweep_temp_files` removes those.

These functions raise ``OSError``; :func:`coopfeed.publish.publish` turns it into
``PublishError``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

TEMP_SUFFIX = ".coopfeed-tmp"
FILE_MODE = 0o644


def write_if_changed(path: Path, data: bytes, *, sync_folder: bool = True) -> bool:
    """Write ``data`` to ``path`` atomically unless it already holds exactly these bytes.

    Returns True when the file was written, False when it was left alone (its mtime
    stays, so HTTP caches and ``If-Modified-Since`` keep working).  Without
    ``sync_folder`` the caller makes the rename durable: :func:`fsync_folder` once after
    a group of files (the file's own bytes are always fsynced before the rename).
    """
    if _holds(path, data):
        return False
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), FILE_MODE)  # mkstemp creates 0600
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    if sync_folder:
        fsync_folder(path.parent)
    return True


def sweep_temp_files(folder: Path, *, older_than: float = 60.0) -> int:
    """Remove temporary files that an interrupted :func:`write_if_changed` left in ``folder``.

    Only regular files named ``.*.coopfeed-tmp`` whose mtime is at least ``older_than``
    seconds in the past are removed, so a write still in progress in another process is
    not pulled from under it; anything else in the folder is never touched.  Returns how
    many files were removed.  A missing folder holds nothing to sweep.
    """
    removed = 0
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX)):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            if now - entry.stat(follow_symlinks=False).st_mtime < older_than:
                continue
            os.unlink(entry.path)
        except FileNotFoundError:  # someone else swept it first
            continue
        removed += 1
    return removed


def _holds(path: Path, data: bytes) -> bool:
    """True when ``path`` is a file whose bytes are exactly ``data``."""
    try:
        if path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except FileNotFoundError:
        return False


def fsync_folder(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (POSIX; Windows cannot open folders)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
