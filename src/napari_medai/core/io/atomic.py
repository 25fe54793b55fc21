"""Atomic writing of one file: a temporary file in the target's folder, renamed onto it when complete.

Every writer of napari-medai (images, tables, JSON, model weights, figures) goes through
:func:`atomic_path` (or :func:`atomic_write`), so a failed or interrupted write never leaves a
half-written file under the target's name, and the temporary file is removed on failure.

The temporary file is created next to the target (``os.replace`` is atomic only within one file
system) with an unguessable name, exclusively, with the permissions a plain ``open(path, "w")``
would give (the umask applies).

Errors: creating the folder or the temporary file raises :class:`FolderNotWritableError` (an
:class:`OSError`), so callers can tell "cannot write here" from "the write itself failed"; the
write function's own errors pass through unchanged. Callers turn them into their own one-line
messages.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..errors import InvalidInputError

__all__ = ["FolderNotWritableError", "atomic_path", "atomic_write", "same_file"]


class FolderNotWritableError(OSError):
    """The target's folder could not be created, or holds no room for a temporary file."""


def _key(p: str | os.PathLike[str]) -> str:
    return os.path.normcase(str(Path(p).expanduser().resolve()))


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True when ``a`` and ``b`` name the same file (the same inode, or the same resolved path)."""
    try:
        if Path(a).exists() and Path(b).exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return _key(a) == _key(b)


def _not_writable(exc: OSError) -> FolderNotWritableError:
    if exc.errno is not None and exc.strerror is not None:
        return FolderNotWritableError(exc.errno, exc.strerror, exc.filename)
    return FolderNotWritableError(*exc.args)


@contextlib.contextmanager
def atomic_path(
    target: str | os.PathLike[str],
    *,
    suffix: str = ".tmp",
    prefix: str | None = None,
    protect: Iterable[str | os.PathLike[str] | None] = (),
) -> Iterator[Path]:
    """Yield a new, empty temporary file beside ``target``; rename it onto ``target`` on success.

    Parameters
    ----------
    target
        The file to (re)place. Missing parent folders are created.
    suffix
        End of the temporary file's name; writers that choose the format by extension
        (``".tmp.nii.gz"``, ``".png"``) give it here.
    prefix
        Start of the temporary name (default ``".<target name>."``, a hidden file).
    protect
        Files that must never be replaced (the inputs of a run).

    Yields
    ------
    Path
        The temporary file to write. When the ``with`` body raises, it is deleted and the
        target is left untouched.

    Raises
    ------
    InvalidInputError
        ``target`` is one of ``protect``.
    FolderNotWritableError
        The folder or the temporary file cannot be created.
    """
    out = Path(target)
    for p in protect:
        if p is not None and same_file(out, p):
            raise InvalidInputError(f"{out}: refusing to overwrite an input file; choose another output name")
    folder = out.parent if str(out.parent) else Path(".")
    head = f".{out.name}." if prefix is None else prefix
    try:
        folder.mkdir(parents=True, exist_ok=True)
        while True:
            tmp = folder / f"{head}{uuid.uuid4().hex[:12]}{suffix}"
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:  # pragma: no cover - 48 random bits
                continue
            os.close(fd)
            break
    except OSError as exc:
        raise _not_writable(exc) from exc
    try:
        yield tmp
        os.replace(tmp, out)
    finally:
        if os.path.lexists(tmp):
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def atomic_write(
    target: str | os.PathLike[str],
    write: Callable[[Path], object],
    *,
    suffix: str = ".tmp",
    prefix: str | None = None,
    protect: Iterable[str | os.PathLike[str] | None] = (),
) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``target``, then rename it onto ``target``.

    The function form of :func:`atomic_path` (same parameters and errors); returns ``target``.

    Examples
    --------
    >>> atomic_write(folder / "notes.txt", lambda p: p.write_text("done\\n"))  # doctest: +SKIP
    """
    with atomic_path(target, suffix=suffix, prefix=prefix, protect=protect) as tmp:
        write(tmp)
    return Path(target)
