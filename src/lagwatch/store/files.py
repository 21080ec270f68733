"""Where lagwatch may create files, and how: folders only this user can change, files only it
can read.

A daemon run by root must never be tricked into writing through a symlink another user
planted, into a folder another user controls, or into a file it did not create. History tells
who ran what, so it is private too: folders lagwatch makes are 0700, the database file 0600
(SQLite gives its -wal and -shm files the database's mode).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class UnsafePath(Exception):
    """A folder or file lagwatch will not use; the message says why and what to do."""


def euid() -> int:
    return os.geteuid() if hasattr(os, "geteuid") else 0


def mode_text(mode: int) -> str:
    return oct(stat.S_IMODE(mode))[2:].rjust(4, "0")


def check_folder(folder: Path) -> None:
    """UnsafePath unless ``folder`` is a directory owned by this user or root that no other
    user can write into (whoever can write there can plant a symlink where a file goes)."""
    try:
        st = os.stat(folder)
    except OSError as exc:
        raise UnsafePath(f"{folder}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePath(f"{folder} is not a folder")
    if st.st_uid not in (euid(), 0):
        raise UnsafePath(f"{folder} belongs to uid {st.st_uid}, not to this user")
    if st.st_mode & 0o022:
        raise UnsafePath(
            f"{folder} can be written by other users (mode {mode_text(st.st_mode)}); "
            f"chmod go-w {folder}"
        )


def make_folders(folder: Path) -> None:
    """Create ``folder`` and any missing parent, each mode 0700 (existing ones are kept)."""
    missing = []
    probe = Path(folder)
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)


def ensure_private_dir(folder: Path) -> Path:
    """Create ``folder`` mode 0700 in its (existing) parent, or accept an existing one only if
    it is a real directory (not a symlink) this user owns that no other user can write into;
    its read bits are then tightened to 0700 (it is ours, nobody else could have put anything
    in it). For runtime folders under a shared temporary directory."""
    parent = folder.parent
    try:
        pst = os.stat(parent)
    except OSError as exc:
        raise UnsafePath(f"{parent}: {exc.strerror or exc}") from None
    # In a folder others can write, only the sticky bit stops them renaming our entry away.
    if pst.st_uid not in (euid(), 0) or (pst.st_mode & 0o022 and not pst.st_mode & stat.S_ISVTX):
        raise UnsafePath(
            f"{parent} can be changed by other users (owner uid {pst.st_uid}, mode "
            f"{mode_text(pst.st_mode)})"
        )
    with contextlib.suppress(FileExistsError):
        os.mkdir(folder, 0o700)
    st = os.lstat(folder)
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePath(f"{folder} is a symlink; remove it (lagwatch makes this folder itself)")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePath(f"{folder} is not a folder; remove it")
    if st.st_uid != euid():
        raise UnsafePath(
            f"{folder} belongs to uid {st.st_uid}, not to this user; remove it (another user "
            "may have made it to interfere)"
        )
    if st.st_mode & 0o022:
        raise UnsafePath(
            f"{folder} can be written by other users (mode {mode_text(st.st_mode)}); remove "
            "it and lagwatch makes a private one"
        )
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(folder, 0o700, follow_symlinks=False)
    return folder


def create_private_file(path: Path) -> bool:
    """Create ``path`` empty, mode 0600, if nothing is there (True); False when a file already
    is. Never follows a symlink: a dangling one (which a later open would follow to create
    its target) is UnsafePath."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
    except FileExistsError:
        if os.path.islink(path) and not os.path.exists(path):
            raise UnsafePath(
                f"{path} is a symlink to a missing file; lagwatch will not create files "
                "through it (remove it or point --db at the real place)"
            ) from None
        return False
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(f"{path} is a symlink loop") from None
        raise
    os.close(fd)
    return True
