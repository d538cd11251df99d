"""Files of the local stack that cross a privilege boundary, handled without following links.

When ascolto runs as root, Elasticsearch runs as an unprivileged user who owns its config, data
and logs directories. Whatever that user can write, it can turn into a symbolic (or hard) link to
a file of root's, so root must never follow a link there: ownership is changed through file
descriptors opened with ``O_NOFOLLOW``, the tree is walked with :func:`os.fwalk` (which never
descends through a link, even one swapped in during the walk), and root's own files (pid files,
launcher output) live in a directory only root can write.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

from core.errors import StackError

# O_NONBLOCK: opening a FIFO the other user planted must not hang us.
_NOFOLLOW_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def chown_tree(top: Path, uid: int, gid: int) -> list[str]:
    """Give ``top`` and everything under it to ``uid:gid``, never following or changing a link.

    Symbolic links are left alone (their owner grants nothing), as are regular files with more
    than one hard link: such a file may be a file of ours linked in from elsewhere. Returns the
    paths skipped for that reason, relative to ``top``.
    """
    skipped: list[str] = []
    _chown_entry(str(top), None, uid, gid, skipped, shown=".")
    for dirpath, dirnames, filenames, dirfd in os.fwalk(top, follow_symlinks=False):
        for name in dirnames + filenames:
            shown = os.path.relpath(os.path.join(dirpath, name), top)
            _chown_entry(name, dirfd, uid, gid, skipped, shown)
    return skipped


def _chown_entry(name: str, dirfd: int | None, uid: int, gid: int, skipped: list[str], shown: str) -> None:
    try:
        fd = os.open(name, _NOFOLLOW_READ, dir_fd=dirfd)
    except OSError as exc:
        # ELOOP: a symbolic link. ENXIO: a socket. ENOENT: gone meanwhile. None of them is ours to change.
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.ENOENT):
            return
        raise
    try:
        # Checked on the opened file itself: a name swapped after this open changes nothing.
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            skipped.append(shown)
            return
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            return
        if (st.st_uid, st.st_gid) != (uid, gid):
            os.fchown(fd, uid, gid)
    finally:
        os.close(fd)


def private_dir(path: Path) -> Path:
    """Make ``path`` a directory owned by this user that no one else can write, and return it.

    A directory an older ascolto handed to another user is taken back (as root), so that files
    written there afterwards cannot be redirected by that user.
    """
    path.mkdir(mode=0o755, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise StackError(
            f"{path} must be a directory, not a symbolic link: remove it and run the command again."
        ) from exc
    try:
        st = os.fstat(fd)
        try:
            if st.st_uid != os.geteuid():
                os.fchown(fd, os.geteuid(), os.getegid())
            if st.st_mode & 0o022:
                os.fchmod(fd, stat.S_IMODE(st.st_mode) & ~0o022)
        except PermissionError as exc:
            raise StackError(
                f"{path} belongs to another user: remove it, or run ascolto as the user who owns it."
            ) from exc
    finally:
        os.close(fd)
    return path


def _ours(fd: int) -> bool:
    st = os.fstat(fd)
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and st.st_nlink == 1


def open_own_file(path: Path, mode: int = 0o644) -> int:
    """A descriptor appending to ``path``, a regular file of ours: a link or someone else's file
    found under that name is replaced by a new file, never written through."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        fd = -1
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
            raise
        fd = -1
    if fd >= 0:
        if _ours(fd):
            os.set_blocking(fd, True)
            return fd
        os.close(fd)
    with contextlib.suppress(FileNotFoundError, IsADirectoryError):
        path.unlink()
    fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, mode)
    os.set_blocking(fd, True)
    return fd


def write_own_file(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with a new file holding ``data``, atomically; a link there is replaced, not followed.

    Safe even in a directory another user can write: the content goes to a fresh file created
    with O_EXCL, and the rename moves that file, whatever is at its name by then.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_own_file(path: Path, limit: int = 65536) -> bytes:
    """The first ``limit`` bytes of ``path``, refusing to follow a symbolic link (OSError then)."""
    fd = os.open(path, _NOFOLLOW_READ)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return fh.read(limit)
