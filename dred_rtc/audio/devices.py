"""Microphone and speaker through sounddevice (PortAudio), in the project's format:
20 ms frames of 48 kHz mono int16 (960 samples).

- `MicrophoneSource`: an InputStream; `await read()` returns the next frame. Devices that cannot
  run at 48 kHz are opened at their own rate and resampled (soxr, streaming).
- `SpeakerSink`: an OutputStream whose callback calls `pull_frame()` once per 20 ms, so the device
  clock drives playout. `pull_frame` runs on PortAudio's audio thread: it must be quick and
  thread-safe; if it raises or returns something else than 960 samples, silence is played and
  the error is counted (the audio thread never dies).
- Input and output are always separate streams (full-duplex streams stall on PulseAudio).
- Devices are chosen by index or by a case-insensitive substring of their name; None is the
  system default. When there is no device, or PortAudio is missing, `NoAudioDevice` says what
  to do instead.

PortAudio enumerates devices once per process; after an audio server starts (e.g. a test's
PulseAudio), call `refresh()`.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from typing import Any, Callable

import numpy as np
import soxr

from ..media import FRAME, FRAME_MS, FRAMES_PER_SECOND, SAMPLE_RATE

log = logging.getLogger(__name__)

_INPUT_HINT = ("use --input WAV, or start PulseAudio (`make setup` installs it; "
               "`pulseaudio --start`, or a null sink for a machine without sound card)")
_OUTPUT_HINT = ("use --output WAV, or start PulseAudio (`make setup` installs it; "
                "`pulseaudio --start`, or a null sink for a machine without sound card)")


class NoAudioDevice(RuntimeError):
    """No usable audio device (none present, no match, cannot open, or PortAudio missing)."""


def _sd():
    try:
        import sounddevice
    except OSError as error:  # PortAudio shared library not found
        raise NoAudioDevice(f"PortAudio is missing ({error}); install the Debian package libportaudio2 "
                            f"(make setup does), or {_INPUT_HINT.split(', or ')[0]}") from None
    return sounddevice


def refresh() -> None:
    """Re-scan devices (PortAudio lists them once, when it is initialised)."""
    sd = _sd()
    sd._terminate()
    sd._initialize()


def list_devices() -> list[dict[str, Any]]:
    """Every device PortAudio sees: index, name, host API, channel counts, default rate, default flags."""
    sd = _sd()
    try:
        devices = sd.query_devices()
        apis = sd.query_hostapis()
    except sd.PortAudioError:
        return []
    try:
        default_in, default_out = sd.default.device
    except (sd.PortAudioError, TypeError, ValueError):
        default_in, default_out = -1, -1
    return [{"index": i, "name": d["name"], "hostapi": apis[d["hostapi"]]["name"],
             "inputs": d["max_input_channels"], "outputs": d["max_output_channels"],
             "default_samplerate": d["default_samplerate"],
             "default_input": i == default_in, "default_output": i == default_out}
            for i, d in enumerate(devices)]


def find_device(device: str | int | None, kind: str) -> dict[str, Any]:
    """Resolve a device choice for `kind` ("input" or "output") to its list_devices() entry."""
    if kind not in ("input", "output"):
        raise ValueError(f"kind must be 'input' or 'output', got {kind!r}")
    channels = "inputs" if kind == "input" else "outputs"
    hint = _INPUT_HINT if kind == "input" else _OUTPUT_HINT
    devices = list_devices()
    usable = [d for d in devices if d[channels] > 0]
    if not usable:
        raise NoAudioDevice(f"no audio {kind} device found; {hint}")
    names = ", ".join(f"{d['index']} {d['name']!r}" for d in usable)
    if device is None:
        for entry in usable:
            if entry[f"default_{kind}"]:
                return entry
        return usable[0]
    if isinstance(device, str) and device.strip().isdigit():
        device = int(device)
    if isinstance(device, int) and not isinstance(device, bool):
        for entry in usable:
            if entry["index"] == device:
                return entry
        raise NoAudioDevice(f"no audio {kind} device with index {device}; {kind}s: {names}")
    if not isinstance(device, str) or not device.strip():
        raise NoAudioDevice(f"audio {kind} device must be a name or an index, got {device!r}; {kind}s: {names}")
    wanted = device.strip().lower()
    exact = [d for d in usable if d["name"].lower() == wanted]
    matches = exact or [d for d in usable if wanted in d["name"].lower()]
    if not matches:
        raise NoAudioDevice(f"no audio {kind} device matches {device!r}; {kind}s: {names}")
    return matches[0]


def _choose_rate(sd, index: int, kind: str, channels: int, requested: int | None, default: float) -> int:
    """48 kHz when the device takes it (or the requested rate), else the device's default rate."""
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    for rate in ([requested] if requested else [SAMPLE_RATE, int(default)]):
        try:
            check(device=index, samplerate=rate, channels=channels, dtype="int16")
            return int(rate)
        except sd.PortAudioError:
            continue
    raise NoAudioDevice(f"audio {kind} device {index} supports neither {requested or SAMPLE_RATE} Hz "
                        f"nor its default rate {default:g} Hz with {channels} channel(s)")


def _choose_channels(sd, index: int, kind: str, maximum: int) -> int:
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    for channels in (1, 2, maximum):
        if channels <= maximum:
            try:
                check(device=index, channels=channels, dtype="int16")
                return channels
            except sd.PortAudioError:
                continue
    return 1


class _DeviceStream:
    """What the microphone and the speaker share: the chosen device, its format, its stream."""

    device: dict
    channels: int
    device_rate: int
    _stream: Any

    def _choose_device(self, sd: Any, device: str | int | None, kind: str, device_rate: int | None) -> int:
        """Find the device and the channel count and rate it can do; returns its index."""
        self.device = find_device(device, kind)
        index = self.device["index"]
        self.channels = _choose_channels(sd, index, kind, self.device["inputs" if kind == "input" else "outputs"])
        self.device_rate = _choose_rate(sd, index, kind, self.channels, device_rate,
                                        self.device["default_samplerate"])
        return index

    @property
    def name(self) -> str:
        return self.device["name"]

    @property
    def latency(self) -> float:
        """The latency PortAudio reports for the stream, seconds."""
        return float(self._stream.latency)

    def _close_stream(self) -> None:
        try:
            self._stream.stop()
        except Exception:  # already stopped / device gone
            pass
        self._stream.close()


class MicrophoneSource(_DeviceStream):
    """Audio input as an async source of 20 ms frames (960 int16 samples, 48 kHz mono).

    The stream starts on `start()` or the first `read()`. At most `max_buffered_ms` of audio
    waits for the reader; older frames are dropped (counted in `dropped_frames`) so a late reader
    never adds lasting delay."""

    def __init__(self, device: str | int | None = None, *, device_rate: int | None = None,
                 latency: str | float = "low", max_buffered_ms: int = 200):
        sd = _sd()
        index = self._choose_device(sd, device, "input", device_rate)
        self._resampler = (soxr.ResampleStream(self.device_rate, SAMPLE_RATE, 1, dtype="int16", quality="HQ")
                           if self.device_rate != SAMPLE_RATE else None)
        self._frames: collections.deque[np.ndarray] = collections.deque()
        self._max_frames = max(1, max_buffered_ms // FRAME_MS)
        self._pending = np.zeros(0, dtype=np.int16)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiter: asyncio.Future | None = None
        self._closed = False
        self._started = False
        self.frames_read = 0
        self.dropped_frames = 0
        self.overflows = 0
        try:
            self._stream = sd.InputStream(device=index, samplerate=self.device_rate, channels=self.channels,
                                          dtype="int16", blocksize=self.device_rate // FRAMES_PER_SECOND,
                                          latency=latency, callback=self._callback)
        except sd.PortAudioError as error:
            raise NoAudioDevice(f"cannot open audio input {self.device['name']!r}: {error}; {_INPUT_HINT}") from None

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        # PortAudio's thread: convert, resample, cut into frames; wake the reader.
        if status.input_overflow:
            self.overflows += 1
        block = indata[:, 0] if self.channels == 1 else indata.mean(axis=1).astype(np.int16)
        if self._resampler is not None:
            block = self._resampler.resample_chunk(np.ascontiguousarray(block))
        with self._lock:
            pending = np.concatenate((self._pending, block)) if self._pending.size else block.copy()
            count = pending.size // FRAME
            for k in range(count):
                self._frames.append(pending[k * FRAME:(k + 1) * FRAME].copy())
            self._pending = pending[count * FRAME:]
            while len(self._frames) > self._max_frames:
                self._frames.popleft()
                self.dropped_frames += 1
        if count and self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self._wake)
            except RuntimeError:  # event loop closed
                pass

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def start(self) -> None:
        if self._closed:
            raise EOFError("microphone closed")
        if not self._started:
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                self._loop = None
            self._stream.start()
            self._started = True

    async def read(self) -> np.ndarray:
        """The next 20 ms frame (960 int16 samples). EOFError once closed."""
        self._loop = asyncio.get_running_loop()
        self.start()
        while True:
            with self._lock:
                if self._frames:
                    self.frames_read += 1
                    return self._frames.popleft()
            if self._closed:
                raise EOFError("microphone closed")
            self._waiter = self._loop.create_future()
            try:
                await asyncio.wait_for(self._waiter, timeout=2.0)
            except asyncio.TimeoutError:
                if self._closed:
                    raise EOFError("microphone closed") from None
                if not self._stream.active:
                    raise NoAudioDevice(f"audio input {self.name!r} stopped delivering audio") from None
            finally:
                self._waiter = None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._close_stream()
        if self._loop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._wake)
            except RuntimeError:
                pass

    async def __aenter__(self) -> "MicrophoneSource":
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class SpeakerSink(_DeviceStream):
    """Audio output driven by the device: its callback asks `pull_frame()` for each 20 ms frame
    (960 int16 samples, 48 kHz mono), from PortAudio's audio thread, exactly when the device
    needs it. Device blocks are `block_ms` long (10 ms by default: a frame is pulled every other
    callback). PortAudio's ALSA path into PulseAudio stalls with 20 ms blocks at low latency
    (measured: 3 callbacks per second instead of 50); 10 ms blocks run at 20 ms latency."""

    def __init__(self, device: str | int | None, pull_frame: Callable[[], np.ndarray], *,
                 device_rate: int | None = None, latency: str | float = "low", block_ms: float = 10.0):
        sd = _sd()
        self.pull_frame = pull_frame
        index = self._choose_device(sd, device, "output", device_rate)
        self._resampler = (soxr.ResampleStream(SAMPLE_RATE, self.device_rate, 1, dtype="int16", quality="HQ")
                           if self.device_rate != SAMPLE_RATE else None)
        self._fifo = np.zeros(0, dtype=np.int16)
        self._closed = False
        self.frames_pulled = 0
        self.errors = 0
        self.underflows = 0
        self.last_error: BaseException | None = None
        try:
            self._stream = sd.OutputStream(device=index, samplerate=self.device_rate, channels=self.channels,
                                           dtype="int16", blocksize=int(self.device_rate * block_ms / 1000),
                                           latency=latency, callback=self._callback)
        except sd.PortAudioError as error:
            raise NoAudioDevice(f"cannot open audio output {self.device['name']!r}: {error}; {_OUTPUT_HINT}") from None

    def _next_frame(self) -> np.ndarray:
        try:
            frame = np.asarray(self.pull_frame())
            if frame.shape != (FRAME,):
                raise ValueError(f"pull_frame returned shape {frame.shape}, expected ({FRAME},)")
            if frame.dtype != np.int16:
                if np.issubdtype(frame.dtype, np.floating):
                    frame = np.clip(np.round(frame * 32767.0), -32768, 32767)
                frame = frame.astype(np.int16)
        except Exception as error:  # never let the audio thread die: play silence
            self.errors += 1
            if self.last_error is None:
                log.warning("speaker: pull_frame failed (%r); playing silence", error)
            self.last_error = error
            frame = np.zeros(FRAME, dtype=np.int16)
        self.frames_pulled += 1
        return frame

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        if status.output_underflow:
            self.underflows += 1
        if self._resampler is None and frames == FRAME and not self._fifo.size:
            block = self._next_frame()
        else:
            while self._fifo.size < frames:
                chunk = self._next_frame()
                if self._resampler is not None:
                    chunk = self._resampler.resample_chunk(chunk)
                self._fifo = np.concatenate((self._fifo, chunk))
            block, self._fifo = self._fifo[:frames], self._fifo[frames:]
        outdata[:] = block[:, None]

    def start(self) -> None:
        if self._closed:
            raise RuntimeError("speaker closed")
        if not self._stream.active:
            self._stream.start()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._close_stream()

    def __enter__(self) -> "SpeakerSink":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
