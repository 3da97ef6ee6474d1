"""libopus's neural loss generator (dnn/lossgen.c) as a LossModel, through ctypes.

lossgen is a small GRU trained on the real packet-loss traces of the Interspeech 2022
PLC Challenge; it yields one decision per 20 ms packet with realistic bursts. It is not
part of libopus.so: native/build_opus.sh builds it into `<cache>/opus/lib/liblossgen.so`
together with our shim (native/lossgen_shim.c: `dredrtc_lossgen_state_size`,
`dredrtc_lossgen_seed`).

`sample_loss(state, percent_loss)` takes a FRACTION (0.2 for 20 %), whatever its
argument's name says (dnn/lossgen_demo.c passes `percent * 0.01f`).

Randomness: the generator draws from the C library's `rand()`, which is process-global
state. Each LossgenModel therefore generates its decisions eagerly, in chunks: under a
module-wide lock it seeds `rand()` with a seed derived from (model seed, chunk index),
then samples the whole chunk through its own GRU state. The pattern of a model thus
depends only on its seed and target, never on how calls to several models (or other
`srand()` users between chunks) interleave. Code that calls `rand()` from another thread
*while* a chunk is being generated would still perturb it; nothing in dred-rtc does.
"""

from __future__ import annotations

import ctypes
import os
import threading
from functools import cache
from pathlib import Path

import numpy as np

from ..cache import opus_prefix
from ..errors import ImpairSpecError
from .loss import LossModel

#: packets generated per chunk (about 41 s of 20 ms packets)
CHUNK = 2048

_RAND_LOCK = threading.Lock()


class LossgenUnavailable(ImpairSpecError):
    """liblossgen.so is missing or unusable; `make setup` builds it."""


def lossgen_path() -> Path:
    """$DRED_RTC_LOSSGEN, else the cache's liblossgen.so."""
    explicit = os.environ.get("DRED_RTC_LOSSGEN")
    return Path(explicit) if explicit else opus_prefix() / "lib" / "liblossgen.so"


@cache
def _library() -> ctypes.CDLL:
    path = lossgen_path()
    if not path.is_file():
        raise LossgenUnavailable(f"lossgen needs {path}, which is missing; run `make setup`")
    try:
        handle = ctypes.CDLL(str(path))
        handle.lossgen_init.restype = None
        handle.lossgen_init.argtypes = [ctypes.c_void_p]
        handle.sample_loss.restype = ctypes.c_int
        handle.sample_loss.argtypes = [ctypes.c_void_p, ctypes.c_float]
        handle.dredrtc_lossgen_state_size.restype = ctypes.c_size_t
        handle.dredrtc_lossgen_state_size.argtypes = []
        handle.dredrtc_lossgen_seed.restype = None
        handle.dredrtc_lossgen_seed.argtypes = [ctypes.c_uint]
    except (OSError, AttributeError) as error:
        raise LossgenUnavailable(f"{path} is not a usable lossgen library: {error}") from None
    return handle


def available() -> bool:
    """Whether lossgen can be loaded (for `doctor` and skips)."""
    try:
        _library()
    except LossgenUnavailable:
        return False
    return True


def _chunk_seed(seed: int, chunk: int) -> int:
    """A 32-bit srand() seed for one chunk of one model, well mixed by SeedSequence."""
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1, np.uint32)[0])


class LossgenModel(LossModel):
    """Loss decisions from libopus's lossgen GRU at target loss `p` (a fraction in [0, 1]).

    At p = 0.2 it measures about 19.5 % loss with a mean burst near 2 packets (docs/facts.md);
    measured here (seed 1, 100k packets): 19.2 %, mean burst 1.84, longest 62. The target is
    the model's conditioning input, not a hard rate: `lossgen:0` still loses ~0.2 % of
    packets (the trained model's floor) and `lossgen:1` ~95 %; use `none` for no loss.
    """

    def __init__(self, p: float, seed: int | None = None) -> None:
        if not 0.0 <= p <= 1.0:
            raise ImpairSpecError(f"lossgen: P must be in [0, 1], got {p}")
        self.p = p
        self.spec = f"lossgen:{p:g}"
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1, np.uint32)[0])
        self.seed = int(seed)
        library = _library()
        words = (library.dredrtc_lossgen_state_size() + 7) // 8
        self._state = (ctypes.c_uint64 * words)()  # 8-byte aligned LossGenState
        library.lossgen_init(self._state)
        self._chunk_index = 0
        self._chunk = np.empty(0, dtype=bool)
        self._next = 0

    @property
    def mean_loss(self) -> float:
        """The target: the model measures close to it (see the class docstring)."""
        return self.p

    @property
    def mean_burst(self) -> None:
        """No closed form (about 2 packets at p = 0.2, measured)."""
        return None

    def _generate(self) -> None:
        library = _library()
        decisions = np.empty(CHUNK, dtype=bool)
        target = ctypes.c_float(self.p)
        with _RAND_LOCK:
            library.dredrtc_lossgen_seed(_chunk_seed(self.seed, self._chunk_index))
            for i in range(CHUNK):
                decisions[i] = library.sample_loss(self._state, target) != 0
        self._chunk = decisions
        self._chunk_index += 1
        self._next = 0

    def lost(self) -> bool:
        if self._next >= self._chunk.size:
            self._generate()
        value = self._chunk[self._next]
        self._next += 1
        return bool(value)
