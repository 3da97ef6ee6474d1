"""Every malformed spec raises ImpairSpecError (a ValueError) with a one-line message."""

from __future__ import annotations

import os

import pytest

from dred_rtc.impair import ImpairSpecError, parse_jitter_spec, parse_loss_spec

LOSS_CASES = [
    ("", "empty loss spec"),
    ("   ", "empty loss spec"),
    ("burst:0.2", "unknown loss model 'burst'"),
    ("none:0.1", "'none' takes no value"),
    ("bernoulli", "missing value"),
    ("bernoulli:", "missing value"),
    ("bernoulli:abc", "P is not a number: 'abc'"),
    ("bernoulli:1.5", "P must be a fraction in [0, 1], got 1.5"),
    ("bernoulli:-0.1", "P must be a fraction in [0, 1], got -0.1"),
    ("bernoulli:nan", "P must be finite"),
    ("bernoulli:inf", "P must be finite"),
    ("bernoulli:0.1,0.2", "expected 1 value(s)"),
    ("gilbert:0.1", "expected 2 value(s) (gilbert:P,R), got 1"),
    ("gilbert:0.1,", "R is not a number: ''"),
    ("gilbert:0.1,2", "R must be a fraction in [0, 1], got 2"),
    ("gilbert:-1,0.5", "P must be a fraction in [0, 1], got -1"),
    ("lossgen:20", "P must be a fraction in [0, 1], got 20"),
    ("lossgen:x", "P is not a number"),
    ("trace:", "missing file name"),
    ("trace", "missing file name"),
]


@pytest.mark.parametrize("spec, message", LOSS_CASES)
def test_bad_loss_specs(spec, message):
    with pytest.raises(ImpairSpecError) as info:
        parse_loss_spec(spec, seed=1)
    text = str(info.value)
    assert message in text
    assert "\n" not in text
    assert isinstance(info.value, ValueError)


def test_non_string_spec():
    with pytest.raises(ImpairSpecError, match="must be a string"):
        parse_loss_spec(0.2)  # type: ignore[arg-type]


JITTER_CASES = [
    ("", "empty jitter spec"),
    ("uniform:0,10", "unknown jitter model 'uniform'"),
    ("none:5", "'none' takes no value"),
    ("normal", "missing value"),
    ("normal:10", "expected 2 value(s) (normal:MEAN_MS,SD_MS), got 1"),
    ("normal:10,-1", "SD_MS must be >= 0, got -1"),
    ("normal:-5,3", "MEAN_MS must be >= 0, got -5"),
    ("normal:ten,3", "MEAN_MS is not a number: 'ten'"),
    ("normal:10,inf", "SD_MS must be finite"),
]


@pytest.mark.parametrize("spec, message", JITTER_CASES)
def test_bad_jitter_specs(spec, message):
    with pytest.raises(ImpairSpecError) as info:
        parse_jitter_spec(spec, seed=1)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_trace_missing_file(tmp_path):
    with pytest.raises(ImpairSpecError, match=r"trace file .*nope\.txt does not exist"):
        parse_loss_spec(f"trace:{tmp_path / 'nope.txt'}")


def test_trace_directory(tmp_path):
    with pytest.raises(ImpairSpecError, match="is not a regular file"):
        parse_loss_spec(f"trace:{tmp_path}")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_trace_unreadable(tmp_path):
    path = tmp_path / "locked.txt"
    path.write_text("0 1\n")
    path.chmod(0)
    with pytest.raises(ImpairSpecError, match="cannot be read"):
        parse_loss_spec(f"trace:{path}")


def test_trace_unreadable_as_root_via_read_error(tmp_path, monkeypatch):
    """An OSError while reading (e.g. EACCES, EIO) becomes an ImpairSpecError."""
    path = tmp_path / "t.txt"
    path.write_text("0 1\n")

    def fail(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(type(path), "read_bytes", fail)
    with pytest.raises(ImpairSpecError, match="cannot be read: Permission denied"):
        parse_loss_spec(f"trace:{path}")


@pytest.mark.parametrize("content, message", [
    ("", "is empty"),
    ("\n \n", "is empty"),
    ("0\n1\n2\n", "packet 2 is '2', expected 0 or 1"),
    ("0 1 0.5", "packet 2 is '0.5'"),
    ("lost\n", "packet 0 is 'lost'"),
])
def test_trace_garbage(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(ImpairSpecError) as info:
        parse_loss_spec(f"trace:{path}")
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_trace_binary_file(tmp_path):
    path = tmp_path / "bin.dat"
    path.write_bytes(b"0 1 \xff\x00")
    with pytest.raises(ImpairSpecError, match="not a text file"):
        parse_loss_spec(f"trace:{path}")
