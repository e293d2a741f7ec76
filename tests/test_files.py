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


# -- several files as one output --------------------------------------------------------


def test_write_many_interrupted_while_writing_leaves_every_earlier_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bayescale import _files

    paths = [tmp_path / f"{name}.txt" for name in "abc"]
    for path in paths:
        path.write_text("old")
    real = _files._write_all
    calls = []

    def interrupted(data: bytes):
        calls.append(data)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(data)

    monkeypatch.setattr(_files, "_write_all", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _files.write_many({p: b"new" for p in paths}, overwrite=True, remove=[paths[2]])
    assert [p.read_text() for p in paths] == ["old", "old", "old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt", "c.txt"]


def test_write_many_holds_ctrl_c_until_every_file_is_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal

    from bayescale import _files

    paths = [tmp_path / f"{name}.txt" for name in "abc"]
    for path in paths:
        path.write_text("old")
    stale = tmp_path / "stale.txt"
    stale.write_text("old")
    real = os.replace
    moves = []

    def replace(src, dst):
        moves.append(dst)
        if len(moves) == 1:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C after the first move
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    # Python's own handler, whatever an earlier test in this process left (a held Ctrl-C is
    # delivered where it would have gone: an ignored one stays ignored).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            _files.write_many({p: b"new" for p in paths}, overwrite=True, remove=[stale])
        handler = signal.getsignal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)
    # Raised only once every file was moved and the stale one removed: all new.
    assert [p.read_text() for p in paths] == ["new", "new", "new"]
    assert not stale.exists() and len(moves) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt", "c.txt"]
    assert handler is signal.default_int_handler


def test_write_many_without_overwrite_takes_back_what_it_moved(tmp_path: Path) -> None:
    from bayescale import _files
    from bayescale.errors import OutputExistsError

    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    second.write_text("someone's")
    with pytest.raises(OutputExistsError):
        _files.write_many({first: b"new", second: b"new"})
    assert not first.exists() and second.read_text() == "someone's"


def test_write_many_delivers_a_held_ctrl_c_where_it_would_have_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal

    paths = [tmp_path / f"{name}.txt" for name in "ab"]
    real = os.replace

    def replace(src, dst):
        os.kill(os.getpid(), signal.SIGINT)
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    # An ignored Ctrl-C (a job started in the background) stays ignored: the save is done.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _files.write_many({p: b"new" for p in paths}, overwrite=True)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        # A handler of the caller's own is called once, after the moves.
        called = []
        signal.signal(signal.SIGINT, lambda signum, frame: called.append(signum))
        _files.write_many({p: b"newer" for p in paths}, overwrite=True)
        assert called == [signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)
    assert [p.read_text() for p in paths] == ["newer", "newer"]


def test_write_many_without_hard_links_still_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # exFAT, some FUSE and SMB mounts: os.link is not supported; a rename after a check is.
    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    paths = [tmp_path / f"{name}.txt" for name in "ab"]
    _files.write_many({p: b"new" for p in paths})
    assert [p.read_text() for p in paths] == ["new", "new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_write_many_takes_back_new_files_when_a_move_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.link
    calls = []

    def failing(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(os, "link", failing)
    paths = [tmp_path / f"{name}.txt" for name in "ab"]
    with pytest.raises(BayescaleError, match="cannot write"):
        _files.write_many({p: b"new" for p in paths})
    assert list(tmp_path.iterdir()) == []
