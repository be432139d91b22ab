"""Small file helpers of the SLO toolkit: atomic text writes, encodable output."""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import TextIO

__all__ = ["atomic_write_text", "can_encode"]


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` so readers see the old content or the new one, never a partial file.

    The text goes to a temporary file in the same directory, is flushed and fsynced, then renamed over ``path``
    (``os.replace`` is atomic on POSIX and Windows). The temporary file is removed when anything fails.
    """
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def can_encode(stream: TextIO, text: str) -> bool:
    """Whether ``stream`` can print ``text`` (emoji on a UTF-8 terminal; not on an ASCII pipe).

    A stream without an encoding (``io.StringIO``) holds text, not bytes: it can hold anything.
    """
    encoding = getattr(stream, "encoding", None)
    if not encoding:
        return True
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True
