"""Restricted outputs stay restricted on disk: owner-only folders and files, whatever the umask.

The restricted folder (validation reports naming rows, audit worklists, Great Expectations'
results) and the scratch folder of a run hold row-level data. They are created 0700 and every
file in them is made 0600, so that another account on the machine can read none of it; the
published site keeps the usual modes of the user's umask. Which folders may hold which outputs
(no restricted folder inside the site, ...) is checked with the settings
(:func:`transforms.config.Settings.validate`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(folder: Path) -> Path:
    """Create ``folder`` (and missing parents) and make it owner-only (0700); returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, PRIVATE_DIR_MODE)
    return folder


def _chmod_tree(folder: Path, dir_mode: int, file_mode: int) -> None:
    """Give ``folder`` and every folder and file under it these modes (symbolic links untouched).

    Entries that have the mode already are left alone: every step of a run checks the restricted
    folder (hundreds of packet files at scale), where a ``chmod`` costs more than looking.
    """
    os.chmod(folder, dir_mode)
    for root, dirs, files in os.walk(folder):
        for names, mode in ((dirs, dir_mode), (files, file_mode)):
            for name in names:
                path = os.path.join(root, name)
                st = os.lstat(path)
                if not stat.S_ISLNK(st.st_mode) and stat.S_IMODE(st.st_mode) != mode:
                    os.chmod(path, mode)


def make_private(folder: Path) -> None:
    """Make ``folder`` and everything in it owner-only: folders 0700, files 0600 (symbolic links untouched)."""
    if folder.is_dir() and not folder.is_symlink():
        _chmod_tree(folder, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE)


def write_private(path: Path, text: str) -> Path:
    """Write a UTF-8 text file that is owner-only from the moment it exists (0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    os.fchmod(fd, PRIVATE_FILE_MODE)  # an existing file keeps its mode through O_CREAT; set it anyway
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


@contextmanager
def owner_only_umask() -> Iterator[int]:
    """Run a block with the umask also masking group and other bits (new files 0600, folders 0700).

    Yields the previous umask, which the published site's modes should follow (see :func:`apply_umask`).
    Files DuckDB creates on its own (write-ahead log, spill files) get no other protection.
    """
    previous = os.umask(0o077)
    os.umask(previous | 0o077)
    try:
        yield previous
    finally:
        os.umask(previous)


def apply_umask(folder: Path, umask: int) -> None:
    """Give ``folder`` and everything in it the modes new files would have under ``umask`` (the site's modes)."""
    if folder.is_dir():
        _chmod_tree(folder, 0o777 & ~umask, 0o666 & ~umask)
