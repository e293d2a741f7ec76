"""Tests of bayescale._files: the checks and atomic writes every saved file goes through."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from bayescale import _files
from bayescale.errors import BayescaleError


def test_a_name_close_to_the_limit_is_written(tmp_path: Path) -> None:
    # '.<name>.' + 8 random characters + '.tmp' was 14 bytes longer than the name itself.
    path = tmp_path / ("a" * 240 + ".nc")
    assert len(path.name) == 243
    assert _files.write_bytes(path, b"fit") == path
    assert path.read_bytes() == b"fit"
    assert os.listdir(tmp_path) == [path.name]  # no temporary file left


def test_a_name_over_the_limit_is_refused_as_such(tmp_path: Path) -> None:
    path = tmp_path / ("b" * 256 + ".nc")
    with pytest.raises(BayescaleError, match=r"the file name is 259 bytes long, more than the"):
        _files.check_destination(path)


def test_a_file_where_the_folder_should_be_is_named(tmp_path: Path) -> None:
    (tmp_path / "s1.nc").write_bytes(b"a fit")
    for path in (tmp_path / "s1.nc" / "x.nc", tmp_path / "s1.nc" / "sub" / "x.nc"):
        with pytest.raises(BayescaleError) as info:
            _files.write_bytes(path, b"x")
        assert str(info.value) == (
            f"cannot write '{path}': '{tmp_path / 's1.nc'}' is a file, not a folder; "
            f"choose another path"
        )
    with pytest.raises(BayescaleError, match="does not exist; create it first"):
        _files.check_destination(tmp_path / "missing" / "x.nc")


def test_a_read_only_file_system_is_not_called_permission_denied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def read_only(*args: object, **kwargs: object) -> str:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(_files.tempfile, "mkstemp", read_only)
    with pytest.raises(BayescaleError) as info:
        _files.check_destination(tmp_path / "fit.nc")
    message = str(info.value)
    assert message.startswith(
        f"cannot write into folder '{tmp_path}': the file system is read-only"
    )
    assert "permission denied" not in message
