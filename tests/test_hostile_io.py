"""Hostile input and faults (issue 17): atomic writes and the CLI's numeric arguments."""

from __future__ import annotations

import argparse
import errno
import os
from pathlib import Path

import pytest

from romanus import cliargs, fileio
from romanus.fileio import atomic_write_bytes

# ----------------------------------------------------------------------------- atomic writes


def test_atomic_write_fsyncs_the_file_before_the_rename_and_the_folder_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync-dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync-file")
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(fileio.os, "fsync", fsync)
    monkeypatch.setattr(fileio.os, "replace", replace)
    atomic_write_bytes(tmp_path / "out.bin", b"abc")
    assert (tmp_path / "out.bin").read_bytes() == b"abc"
    assert events == ["fsync-file", "replace", "fsync-dir"]


def test_disk_full_names_the_path_and_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "best_model.zip"
    target.write_bytes(b"old and whole")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", full)
    with pytest.raises(OSError) as info:
        atomic_write_bytes(target, b"new" * 1000)
    exc = info.value
    assert exc.errno == errno.ENOSPC
    assert exc.filename == str(target)
    # what the CLI prints: f"{exc.filename}: {exc.strerror}" (it printed ": No space left" before)
    assert f"{exc.filename}: {exc.strerror}" == f"{target}: No space left on device"
    assert target.read_bytes() == b"old and whole"
    assert [p.name for p in tmp_path.iterdir()] == ["best_model.zip"]  # no temporary file left


def test_unwritable_folder_names_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError) as info:
        atomic_write_bytes(blocker / "sub" / "out.txt", b"x")
    assert info.value.filename == str(blocker / "sub" / "out.txt")


# ----------------------------------------------------------------------------- CLI arguments


@pytest.mark.parametrize("text", ["inf", "nan", "-inf", "1e9", "0", "-5", "abc", "1e309", "86400.5"])
def test_duration_s_refuses_what_cannot_be_simulated(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        cliargs.duration_s(text)


def test_duration_s_accepts_ordinary_durations() -> None:
    assert cliargs.duration_s("60") == 60.0
    assert cliargs.duration_s("0.5") == 0.5
    assert cliargs.duration_s("86400") == 86400.0


@pytest.mark.parametrize("text", ["0", "-100", "1e-6", "0.5", "nan", "inf", "1e12", "x"])
def test_window_ms_refuses_degenerate_windows(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        cliargs.window_ms(text)


def test_window_ms_accepts_ordinary_windows() -> None:
    assert cliargs.window_ms("100") == 100.0
    assert cliargs.window_ms("1") == 1.0


@pytest.mark.parametrize("text", ["0", "-100", "1.5", "1e3", "²", "٣", "9" * 5000, "", "nan"])
def test_positive_int_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        cliargs.positive_int(text)


def test_positive_int_and_timesteps_accept() -> None:
    assert cliargs.positive_int("1") == 1
    assert cliargs.timesteps("100_000") == 100_000
    assert cliargs.non_negative_int("0") == 0
    with pytest.raises(argparse.ArgumentTypeError):
        cliargs.non_negative_int("-1")
    with pytest.raises(argparse.ArgumentTypeError):
        cliargs.timesteps(str(cliargs.MAX_TIMESTEPS + 1))
    with pytest.raises(argparse.ArgumentTypeError):
        cliargs.frames(str(cliargs.MAX_FRAMES + 1))
    with pytest.raises(argparse.ArgumentTypeError):
        cliargs.workers("100000")


def test_finite_positive_float() -> None:
    assert cliargs.finite_positive_float("2.5") == 2.5
    for bad in ("0", "-1", "nan", "inf"):
        with pytest.raises(argparse.ArgumentTypeError):
            cliargs.finite_positive_float(bad)


def test_validators_give_one_line_argparse_errors(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="romanus train")
    parser.add_argument("--timesteps", type=cliargs.timesteps)
    parser.add_argument("--eval-freq", type=cliargs.positive_int)
    for argv in (["--timesteps", "-100"], ["--eval-freq", "0"]):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("romanus train: error: argument ")
        assert "Traceback" not in "".join(err)
    assert parser.parse_args(["--timesteps", "64", "--eval-freq", "32"]).eval_freq == 32


def test_cli_duration_bound_matches_what_a_scenario_may_hold() -> None:
    from romanus.scenario import MAX_DURATION_S

    assert cliargs.MAX_DURATION_S == MAX_DURATION_S


def test_seed_range() -> None:
    assert cliargs.seed_range("3:6") == range(3, 6)
    for bad in ("0:1000000000", "5:5", "6:3", "-1:3", "a:b", "1:2:3", "0:" + "9" * 5000, "²:3"):
        with pytest.raises(argparse.ArgumentTypeError):
            cliargs.seed_range(bad)
