"""Every file bayescale writes goes through here: checked before the work, written atomically.

- :func:`check_destination` is called before any expensive work (sampling, rendering), so a
  destination that exists, or a folder that is missing or read-only, is reported at once.
- :func:`write_atomic` writes a temporary file beside the destination and then moves it into
  place: with ``overwrite`` by ``os.replace``; without, by ``os.link``, which fails if the
  destination appeared meanwhile (two processes writing the same name: one wins, the other
  is told, nothing is lost). The temporary file is removed on every failure, Ctrl-C
  included, and an existing destination is never touched by a failed write.
- NetCDF files are serialised in memory first (:func:`netcdf_bytes`): HDF5 crashes the
  process when the disk fills up under it, whereas a plain write reports ``ENOSPC``.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from bayescale.errors import BayescaleError, OutputExistsError

__all__ = [
    "check_destination",
    "netcdf_bytes",
    "temporary_beside",
    "write_atomic",
    "write_bytes",
    "write_many",
    "write_text",
]


def temporary_beside(path: Path, suffix: str = ".tmp") -> str:
    """Create an empty temporary file in the destination's folder and return its path.

    Parameters
    ----------
    path : Path
        The final destination.
    suffix : str, default ".tmp"
        Suffix of the temporary file (some writers choose the format from it).

    Returns
    -------
    str
        Path of the temporary file, with the permissions of any new file (mkstemp's are 0600).
    """
    fd, tmp = tempfile.mkstemp(prefix=_prefix(path, suffix), suffix=suffix, dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return tmp


# mkstemp adds this many random characters between the prefix and the suffix.
_RANDOM_CHARACTERS = 8


def _name_max(folder: Path) -> int:
    """The longest file name (in bytes) the folder's file system allows."""
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows), or unknown
        return 255
    return limit if limit > 0 else sys.maxsize  # -1: the file system sets no limit


def _prefix(path: Path, suffix: str) -> str:
    """The temporary name's prefix: '.<name>.', cut so that the whole name fits.

    A destination name close to the limit (255 bytes on most file systems) would otherwise
    make the temporary name too long, and a valid name would be refused.
    """
    room = _name_max(path.parent) - len(os.fsencode(suffix)) - _RANDOM_CHARACTERS - 2
    name = path.name
    while name and len(os.fsencode(name)) > room:
        name = name[:-1]
    return f".{name}."


def _why(err: OSError) -> str:
    if err.errno == errno.ENOSPC:
        return "the disk is full; free some space and run again"
    if err.errno == errno.EROFS:
        return "the file system is read-only; choose a folder on a writable disk"
    if err.errno in (errno.EACCES, errno.EPERM):
        return "permission denied; choose a folder you can write to"
    if err.errno == errno.ENAMETOOLONG:
        return "the file name is too long; choose a shorter name"
    return err.strerror or str(err)


def check_destination(path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Check, before any work, that a file can be written at ``path``.

    Parameters
    ----------
    path : str or PathLike
        The destination.
    overwrite : bool, default False
        Whether an existing file may be replaced.

    Returns
    -------
    Path
        The destination as a Path.

    Raises
    ------
    OutputExistsError
        If the file exists and ``overwrite`` is False.
    BayescaleError
        If its folder is missing (or is a file) or not writable (permissions, a read-only
        file system), the destination is a folder, or its name is too long.
    """
    path = Path(path)
    # Before any look-up of the path, which would fail with a bare 'File name too long'.
    limit = _name_max(path.parent)
    if len(os.fsencode(path.name)) > limit:
        raise BayescaleError(
            f"cannot write '{path}': the file name is {len(os.fsencode(path.name))} bytes long, "
            f"more than the {limit} this file system allows; choose a shorter name"
        )
    if path.is_dir():
        raise BayescaleError(f"'{path}' is a folder; give a file name")
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"'{path}' exists already; choose another name or pass overwrite=True", path=path
        )
    folder = path.parent
    if not folder.is_dir():
        # A file where a folder should be ('fit.nc/x.nc') is not a missing folder.
        blocker = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise BayescaleError(
                f"cannot write '{path}': '{blocker}' is a file, not a folder; choose another path"
            )
        raise BayescaleError(f"folder '{folder}' does not exist; create it first")
    # os.access ignores read-only mounts and says yes to root: create a file instead.
    try:
        os.unlink(temporary_beside(path))
    except OSError as err:
        raise BayescaleError(f"cannot write into folder '{folder}': {_why(err)}") from None
    return path


def write_atomic(
    path: str | os.PathLike[str],
    write: Callable[[str], Any],
    *,
    overwrite: bool = False,
    suffix: str = ".tmp",
) -> Path:
    """Write a file through a temporary one beside it, then move it into place.

    Parameters
    ----------
    path : str or PathLike
        The destination.
    write : callable
        Called with the temporary file's path; writes the whole content there.
    overwrite : bool, default False
        Replace an existing file; otherwise the move fails if the destination exists, even
        if another process created it while ``write`` ran.
    suffix : str, default ".tmp"
        Suffix of the temporary file.

    Returns
    -------
    Path
        The destination.

    Raises
    ------
    OutputExistsError
        If the destination exists and ``overwrite`` is False.
    BayescaleError
        If the folder is missing or writing fails (disk full, permissions); the
        temporary file is removed and an existing destination is left as it was.
    """
    path = Path(path)
    check_destination(path, overwrite)
    tmp = temporary_beside(path, suffix)
    try:
        write(tmp)
        _move_into_place(tmp, path, overwrite)
    except OutputExistsError:
        raise
    except OSError as err:
        raise BayescaleError(f"cannot write '{path}': {_why(err)}") from None
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return path


def _write_all(data: bytes) -> Callable[[str], None]:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    return write


def write_bytes(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = False) -> Path:
    """Write bytes atomically (see :func:`write_atomic`).

    Parameters
    ----------
    path : str or PathLike
        The destination.
    data : bytes
        The content.
    overwrite : bool, default False
        Replace an existing file.

    Returns
    -------
    Path
        The destination.
    """
    return write_atomic(path, _write_all(data), overwrite=overwrite)


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block ends, then deliver it: a few renames done together.

    The signal goes, after the block, where it would have gone: Python's handler raises
    KeyboardInterrupt, an ignored signal stays ignored, a handler of the caller's is called.
    Only the main thread can set a handler; elsewhere the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    # None: the handler was not set from Python; Python's own is the closest.
    previous = signal.default_int_handler if previous is None else previous
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught and previous is not signal.SIG_IGN:
        if callable(previous):
            previous(signal.SIGINT, None)
        else:  # SIG_DFL: the process would have ended; KeyboardInterrupt is the gentle form
            raise KeyboardInterrupt


def _move_into_place(tmp: str, path: Path, overwrite: bool) -> None:
    """Move a written temporary file to its destination: replacing it with ``overwrite``;
    without, by a hard link that fails if the destination appeared meanwhile (where the
    file system has no hard links, after one more check, by a rename).

    Raises
    ------
    OutputExistsError
        If the destination exists and ``overwrite`` is False.
    OSError
        If the move fails.
    """
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise OutputExistsError(
            f"'{path}' was created by someone else while this was being written; "
            f"choose another name",
            path=path,
        ) from None
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        # No hard links on this file system: the small window between the check and the
        # rename is the best it allows.
        check_destination(path, overwrite=False)
        os.replace(tmp, path)


def write_many(
    contents: Mapping[Path, bytes], *, overwrite: bool = False, remove: Iterable[Path] = ()
) -> None:
    """Write several files as one output.

    Each content goes to a temporary file beside its destination; only when every one is
    written are they moved into place, and ``remove`` deleted, with Ctrl-C held until the
    last move (writing NetCDF files one after the other takes a second or more, which an
    interrupt would otherwise leave half new, half old). A failure or an interrupt before
    the moves leaves every destination as it was; a failure during them (a disk that goes
    away) takes back the new files moved so far when they replaced nothing, and leaves
    replaced ones replaced.

    Parameters
    ----------
    contents : mapping of Path to bytes
        Destination to content.
    overwrite : bool, default False
        Replace existing files; otherwise a destination that appeared meanwhile is refused.
    remove : iterable of Path, default ()
        Files of an earlier output that this one does not write, deleted with the moves.

    Raises
    ------
    OutputExistsError
        If a destination exists and ``overwrite`` is False.
    BayescaleError
        If writing fails (disk full, permissions) or a file of ``remove`` cannot be deleted.
    """
    for path in contents:
        check_destination(path, overwrite)
    temps: dict[Path, str] = {}
    path = next(iter(contents), Path())
    try:
        for path, data in contents.items():
            temps[path] = temporary_beside(path)
            _write_all(data)(temps[path])
        with _interrupts_held():
            created: list[Path] = []
            try:
                for path, tmp in temps.items():
                    existed = path.exists()
                    _move_into_place(tmp, path, overwrite)
                    if not existed:
                        created.append(path)
            except BaseException:
                for done in created:
                    done.unlink(missing_ok=True)
                raise
            for path in remove:
                try:
                    path.unlink(missing_ok=True)
                except OSError as err:
                    raise BayescaleError(
                        f"cannot remove '{path}', left by an earlier output here "
                        f"({_why(err)}); delete it by hand"
                    ) from None
    except OSError as err:
        raise BayescaleError(f"cannot write '{path}': {_why(err)}") from None
    finally:
        for tmp in temps.values():
            if os.path.lexists(tmp):
                os.unlink(tmp)


def write_text(path: str | os.PathLike[str], text: str, *, overwrite: bool = False) -> Path:
    """Write UTF-8 text atomically (see :func:`write_atomic`).

    Parameters
    ----------
    path : str or PathLike
        The destination.
    text : str
        The content.
    overwrite : bool, default False
        Replace an existing file.

    Returns
    -------
    Path
        The destination.
    """
    return write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


def netcdf_bytes(idata: Any) -> bytes:
    """Serialise an InferenceData to NetCDF (HDF5) bytes, as ``InferenceData.to_netcdf`` does.

    Parameters
    ----------
    idata : arviz.InferenceData
        The data; every group is written, compressed with zlib where the type allows.

    Returns
    -------
    bytes
        The file's content, readable by ``arviz.from_netcdf``.
    """
    import xarray as xr

    buffer = io.BytesIO()
    mode = "w"
    if idata._attrs:
        xr.Dataset(attrs=idata._attrs).to_netcdf(buffer, mode=mode, engine="h5netcdf")
        mode = "a"
    for group in idata._groups_all:
        data = getattr(idata, group)
        encoding = {
            name: {"zlib": True} for name, var in data.variables.items() if var.dtype.kind in "biuf"
        }
        data.to_netcdf(buffer, mode=mode, group=f"/{group}", engine="h5netcdf", encoding=encoding)
        mode = "a"
    return buffer.getvalue()
