"""`dred-rtc doctor`: what this machine's dred-rtc can do, and what is missing."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from typing import Any

from .cache import opus_prefix, speech_dir


def _audio_devices() -> dict[str, Any]:
    try:
        import sounddevice
        devices = sounddevice.query_devices()
    except (OSError, ImportError) as error:  # PortAudio missing
        return {"available": False, "error": str(error), "devices": []}
    listed = [{"index": i, "name": d["name"], "inputs": d["max_input_channels"],
               "outputs": d["max_output_channels"]} for i, d in enumerate(devices)]
    return {"available": bool(listed), "devices": listed}


def _libopus() -> dict[str, Any]:
    """The libopus part of the report. Never raises: an old or wrong library is described
    (version, DRED bitstream version, what it lacks) with a warning, not a traceback."""
    from .opus import OpusError, OpusLibraryNotFound, capabilities
    from .opus.library import DRED_BITSTREAM_VERSIONS, SUPPORTED_SERIES
    try:
        caps = capabilities()
    except (OpusLibraryNotFound, OpusError, OSError) as error:
        return {"libopus_version": None, "libopus_path": None, "dred": False,
                "deep_plc": False, "osce": False, "dred_bitstream_version": None,
                "libopus_supported": False, "error": str(error), "warnings": [str(error)]}
    warnings = []
    if not caps.supported:
        wanted = DRED_BITSTREAM_VERSIONS[SUPPORTED_SERIES]
        dred = (f"it writes DRED bitstream version {caps.dred_version}, a {SUPPORTED_SERIES}.x peer "
                f"version {wanted}, and neither parses the other's DRED (the audio still decodes)"
                if caps.dred else "it has no DRED")
        warnings.append(
            f"{caps.version} is not libopus {SUPPORTED_SERIES}.x, the release dred-rtc is built "
            f"for: {dred}. Rebuild with `make setup` from the {SUPPORTED_SERIES}.1 release "
            "archive (set DRED_RTC_OPUS_ARCHIVE to it if it cannot be fetched).")
    if caps.missing:
        warnings.append("functions missing from this libopus: " + ", ".join(caps.missing))
    return {"libopus_version": caps.version, "libopus_path": caps.path, "dred": caps.dred,
            "deep_plc": caps.deep_plc, "osce": caps.osce,
            "dred_bitstream_version": caps.dred_version, "libopus_supported": caps.supported,
            "missing_functions": list(caps.missing), "warnings": warnings}


def report() -> dict[str, Any]:
    """Everything doctor knows, with the keys docs/contracts.md promises first."""
    result = _libopus()
    from .impair import lossgen
    lossgen_ok = lossgen.available()
    opus_demo = opus_prefix() / "bin" / "opus_demo"
    result.update({
        "lossgen": lossgen_ok,
        "lossgen_path": str(lossgen.lossgen_path()) if lossgen_ok else None,
        "opus_demo": str(opus_demo) if opus_demo.is_file() else None,
        "speech_corpus": str(speech_dir()) if any(speech_dir().glob("*.wav")) else None,
        "audio": _audio_devices(),
        **{name: shutil.which(browser_path(name)) for name in BROWSERS},
    })
    return result


#: the browsers the browser tests drive: (the variable that names another, Debian's path)
BROWSERS = {"chromium": ("DRED_RTC_CHROMIUM", "/usr/bin/chromium"),
            "firefox": ("DRED_RTC_FIREFOX", "/usr/bin/firefox-esr")}


def browser_path(name: str) -> str:
    """The program the browser tests run as `name` (installed or not): one lookup, so doctor
    reports the very browser the tests would drive."""
    variable, debian_path = BROWSERS[name]
    return os.environ.get(variable) or debian_path


def run(args: argparse.Namespace) -> int:
    info = report()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        def mark(ok: object) -> str:
            return "ok     " if ok else "MISSING"
        print(f"libopus        {mark(info['libopus_version'])} {info['libopus_version'] or info.get('error')}")
        print(f"               {info['libopus_path']}")
        print(f"{'dred_bitstream':<14} {mark(info['dred_bitstream_version'])} "
              f"{info['dred_bitstream_version'] or ''}")
        for key in ("dred", "deep_plc", "osce", "lossgen", "opus_demo", "speech_corpus", "chromium",
                    "firefox"):
            print(f"{key:<14} {mark(info[key])} {info[key] if not isinstance(info[key], bool) else ''}")
        audio = info["audio"]
        names = ", ".join(d["name"] for d in audio["devices"]) or audio.get("error", "none")
        print(f"{'audio':<14} {mark(audio['available'])} {names}")
    for warning in info["warnings"]:
        print(f"WARNING: {warning}", file=sys.stderr)
    essential = info["dred"] and info["deep_plc"]
    return 0 if essential else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("doctor", help="show what this installation can do",
                                   description="Check libopus (DRED, deep PLC, OSCE), lossgen, "
                                               "speech corpus, audio devices, Chromium and Firefox ESR "
                                               "(the browsers the browser tests call). "
                                               "Exit code 1 when DRED or deep PLC is missing.")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)
