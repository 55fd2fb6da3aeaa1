"""Writing outputs atomically: a file appears whole at its path, or not at all.

The data goes to a temporary file beside the target, is flushed to the disk (``fsync``),
renamed into place, and the folder is synced so that the rename itself survives a crash.
A failure (disk full, no permission) leaves the previous file untouched, removes the
temporary file, and raises an :class:`OSError` whose message names the target path.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write_bytes", "read_bytes_bounded"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    """Persist a rename in ``folder`` (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems refuse fsync on a folder; the data is synced
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def _named(exc: OSError, target: Path) -> OSError:
    """The same error, naming the target (a failed ``write`` names no file at all)."""
    return OSError(exc.errno, exc.strerror or str(exc), str(target))


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, sync it, then rename it into place."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise _named(exc, target) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _named(exc, target) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def read_bytes_bounded(path: str | Path, limit: int, chunk: int = 1 << 20) -> bytes:
    """The bytes of ``path``, reading at most ``limit + 1`` of them (the caller refuses a
    result longer than ``limit``). Memory follows the file, not the limit: nothing is
    preallocated, so a generous limit costs nothing for a small file."""
    parts: list[bytes] = []
    total = 0
    with open(path, "rb") as fh:
        while total <= limit:
            data = fh.read(min(chunk, limit + 1 - total))
            if not data:
                break
            parts.append(data)
            total += len(data)
    return b"".join(parts)
