"""Atomic writes: a temporary file beside the destination, renamed over it when complete."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def temporary_beside(path: Path, suffix: str = ".tmp") -> str:
    """Create an empty temporary file in the destination's folder and return its path.

    Parameters
    ----------
    path : Path
        The final destination (the temporary file is renamed onto it with ``os.replace``).
    suffix : str, default ".tmp"
        Suffix of the temporary file (some writers choose the format from it).

    Returns
    -------
    str
        Path of the temporary file, with the permissions of any new file (mkstemp's are 0600).
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return tmp
