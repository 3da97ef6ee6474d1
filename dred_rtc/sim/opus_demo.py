"""Running libopus's own opus_demo on the same input, settings and loss pattern.

`--policy reference` claims to be opus_demo's concealment logic; this is how that claim is
checked (tests/integration/test_reference_policy.py) and how anyone can re-check it.
opus_demo reads and writes raw 16-bit PCM, encodes with its own defaults (VOIP here,
unconstrained VBR, LSB depth 16), decodes at `-dec_complexity` (0: classic PLC, 5: deep
PLC) and trims the encoder's lookahead so its output lines up with its input.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..media import FRAME, SAMPLE_RATE
from ..cache import opus_prefix
from .options import SimOptions, SimResult


def opus_demo_path() -> Path:
    return opus_prefix() / "bin" / "opus_demo"


def opus_demo_args(options: SimOptions, expected_loss: int, lossfile: Path) -> list[str]:
    """opus_demo arguments equivalent to `options` (before the input/output file names)."""
    args = ["voip", str(SAMPLE_RATE), "1", str(options.bitrate), "-complexity", str(options.complexity),
            "-loss", str(expected_loss), "-lossfile", str(lossfile),
            "-dec_complexity", "5" if options.plc == "deep" else "0"]
    if options.dred_ms > 0:
        args += ["-dred", str(options.dred_ms // 10)]
    if options.fec:
        args.append("-inbandfec")
    return args


def run_opus_demo(pcm: np.ndarray, options: SimOptions, lost: np.ndarray, expected_loss: int,
                  binary: Path | None = None) -> np.ndarray:
    """opus_demo's decoded output for `pcm` with packets `lost[k]` dropped (int16, len(pcm))."""
    binary = binary or opus_demo_path()
    with tempfile.TemporaryDirectory(prefix="dred-rtc-demo-") as tmp:
        folder = Path(tmp)
        source, result, lossfile = folder / "in.raw", folder / "out.raw", folder / "loss.txt"
        pcm.astype("<i2").tofile(source)
        lossfile.write_text("".join(f"{int(bool(x))}\n" for x in lost))
        command = [str(binary), *opus_demo_args(options, expected_loss, lossfile), str(source),
                   str(result)]
        subprocess.run(command, check=True, capture_output=True, timeout=300)
        return np.fromfile(result, dtype="<i2").astype(np.int16)


def compare_with_opus_demo(pcm: np.ndarray, options: SimOptions, result: SimResult,
                           binary: Path | None = None) -> dict:
    """Whether `result` (a `--policy reference` run) is opus_demo's output for the same input,
    settings and loss pattern. opus_demo skips losses before its first packet (its output
    starts there), so the comparison starts at our first received frame."""
    if options.policy != "reference":
        raise ValueError("only a reference-policy run is opus_demo's equivalent")
    lost = result.lost
    theirs = run_opus_demo(pcm, options, lost, int(result.report["sim"]["expected_loss_percent"]),
                           binary=binary)
    leading = int(np.argmax(~lost)) if (~lost).any() else lost.size
    start = min(leading * FRAME, pcm.size)
    ours = result.output[start:].astype(np.int32)
    theirs = theirs[:pcm.size - start].astype(np.int32)
    if ours.size != theirs.size:
        return {"identical": False, "max_abs_diff": None, "leading_lost": leading}
    difference = int(np.abs(ours - theirs).max()) if ours.size else 0
    return {"identical": difference == 0, "max_abs_diff": difference, "leading_lost": leading}
