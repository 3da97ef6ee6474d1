"""The evaluation corpus: real human speech, several speakers, male and female.

`make setup` runs `python -m dred_rtc.eval.corpus`, which writes 10 s clips (48 kHz mono
int16 WAV, active speech level normalised to -26 dBov) and `manifest.json` into
`<cache>/corpus`. Nothing is committed. Sources (only through the ordinary package clients):

- Debian `asterisk-core-sounds-{en,fr,it,ru}-g722`: IVR prompts read by one professional
  speaker per language, 16 kHz G.722 (decoded with PyAV). Licences from each package's
  copyright file: en (Allison Smith) and fr-CA (June Wallack) CC-BY-SA-3.0; it (Carlo Flora)
  and ru (ivrvoice.ru, Maxim Topal) CC-BY-3.0. Sex is taken from the directory the package
  installs (`it_IT_m_Carlo`, `ru_RU_f_IvrvoiceRU`, ...).
- The `pocketsphinx` 5.1.1 source distribution on PyPI (fetched with a `pip download` that
  compiles nothing, see `pip_download_command`; checked against a pinned sha256, read in
  memory): its test data holds five LibriVox recordings of "Sense and Sensibility" ch. 1
  (public domain) and recordings of male speakers made for the CMU Sphinx tests
  (BSD-2-Clause with the package). Their sex is not stated by the source:
  it is taken from the measured median F0 (about 100 Hz), and the manifest says so.

Every clip records its measured median F0, so anyone can check the sex labels.
Utterances are trimmed of leading/trailing silence and joined with 250 ms pauses; a speaker's
material is never repeated inside the corpus.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..audio.wav import read_wav, to_mono_48k, write_wav
from ..errors import AudioFileError
from ..media import SAMPLE_RATE
from ..cache import cache_dir

CLIP_SECONDS = 10.0
PAUSE_SECONDS = 0.25
TARGET_DBOV = -26.0
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1

ASTERISK_ROOT = Path("/usr/share/asterisk/sounds")
POCKETSPHINX_VERSION = "5.1.1"
POCKETSPHINX_SDIST = f"pocketsphinx-{POCKETSPHINX_VERSION}.tar.gz"
POCKETSPHINX_SHA256 = "675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355"

#: clips per asterisk speaker (their material is far longer than that)
ASTERISK_CLIPS = 7


class CorpusNotPrepared(FileNotFoundError):
    """The evaluation corpus is missing; `make setup` prepares it."""


class CorpusSourceMissing(RuntimeError):
    """A package the corpus is built from is not installed / not obtainable."""


def corpus_dir() -> Path:
    return cache_dir() / "corpus"


@dataclass(frozen=True)
class Speaker:
    id: str
    name: str
    sex: str            # "f" or "m"
    sex_basis: str      # "package" (named by the source) or "f0" (measured, source silent)
    language: str
    licence: str
    source: str         # the package it comes from


@dataclass
class Clip:
    """One corpus clip (or a user-supplied WAV)."""

    name: str
    path: str
    speaker: str = "user"
    sex: str = "?"
    sex_basis: str = ""
    language: str = ""
    licence: str = ""
    source: str = "user"
    seconds: float = 0.0
    f0_hz: float | None = None
    parts: list[str] = field(default_factory=list)

    def load(self) -> np.ndarray:
        return read_wav(self.path)


# ---------------------------------------------------------------- signal helpers

def _frame_rms_db(pcm: np.ndarray, frame: int) -> np.ndarray:
    x = pcm.astype(np.float64) / 32768.0
    count = x.size // frame
    if count == 0:
        return np.array([-120.0])
    power = np.mean(x[: count * frame].reshape(count, frame) ** 2, axis=1)
    return 10 * np.log10(power + 1e-12)


def trim_silence(pcm: np.ndarray, threshold_db: float = 35.0, keep_ms: int = 60) -> np.ndarray:
    """Cut leading/trailing stretches more than `threshold_db` below the loudest 10 ms."""
    frame = SAMPLE_RATE // 100
    levels = _frame_rms_db(pcm, frame)
    active = np.flatnonzero(levels > levels.max() - threshold_db)
    if active.size == 0:
        return pcm[:0]
    keep = keep_ms * SAMPLE_RATE // 1000
    start = max(0, active[0] * frame - keep)
    stop = min(pcm.size, (active[-1] + 1) * frame + keep)
    return pcm[start:stop]


def active_level_dbov(pcm: np.ndarray) -> float:
    """A simple active speech level: mean power of the 10 ms frames within 40 dB of the peak."""
    levels = _frame_rms_db(pcm, SAMPLE_RATE // 100)
    active = levels[levels > levels.max() - 40.0]
    return float(10 * np.log10(np.mean(10 ** (active / 10))))


def normalise(pcm: np.ndarray, target_dbov: float = TARGET_DBOV) -> np.ndarray:
    gain = 10 ** ((target_dbov - active_level_dbov(pcm)) / 20)
    scaled = pcm.astype(np.float64) * gain
    return np.clip(np.round(scaled), -32768, 32767).astype(np.int16)


def median_f0(pcm: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float | None:
    """Median F0 (Hz) of voiced 40 ms frames by normalised autocorrelation, 60..400 Hz."""
    x = pcm.astype(np.float64)
    if sample_rate != 16000:  # analyse at 16 kHz: enough for F0 and 3x cheaper
        import soxr
        x = soxr.resample(x, sample_rate, 16000)
        sample_rate = 16000
    n, hop = int(0.04 * sample_rate), int(0.01 * sample_rate)
    window = np.hanning(n)
    window_ac = np.correlate(window, window, "full")[n - 1:] + 1e-9
    lo, hi = sample_rate // 400, sample_rate // 60
    starts = range(0, x.size - n, hop)
    energies = np.array([np.sum(x[i:i + n] ** 2) for i in starts])
    if energies.size == 0:
        return None
    threshold = 0.3 * np.percentile(energies, 70)
    f0s = []
    for k, i in enumerate(starts):
        if energies[k] < threshold:
            continue
        frame = (x[i:i + n] - x[i:i + n].mean()) * window
        ac = np.correlate(frame, frame, "full")[n - 1:] / window_ac
        if ac[0] <= 0:
            continue
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] / ac[0] > 0.45:
            f0s.append(sample_rate / lag)
    return float(np.median(f0s)) if f0s else None


def join_into_clips(utterances: Iterable[np.ndarray], seconds: float, limit: int | None
                    ) -> list[tuple[np.ndarray, list[int]]]:
    """Join utterances (trimmed) with pauses into clips of exactly `seconds`; a clip never
    repeats material and the incomplete remainder is dropped. Returns (clip, utterance indices)."""
    target = int(seconds * SAMPLE_RATE)
    pause = np.zeros(int(PAUSE_SECONDS * SAMPLE_RATE), dtype=np.int16)
    clips: list[tuple[np.ndarray, list[int]]] = []
    parts: list[np.ndarray] = []
    used: list[int] = []
    total = 0
    for index, utterance in enumerate(utterances):
        if limit is not None and len(clips) >= limit:
            break
        utterance = trim_silence(utterance)
        if utterance.size < SAMPLE_RATE // 5:
            continue
        parts += [utterance, pause]
        used.append(index)
        total += utterance.size + pause.size
        if total >= target:
            clips.append((np.concatenate(parts)[:target], used))
            parts, used, total = [], [], 0
    return clips


# ---------------------------------------------------------------- sources

def _decode_g722(path: Path) -> np.ndarray:
    import av
    with av.open(str(path), format="g722") as container:
        chunks = [frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)]
        rate = container.streams.audio[0].rate or 16000
    return to_mono_48k(np.concatenate(chunks), rate)


ASTERISK_SPEAKERS = [
    # directory, speaker, package
    ("en_US_f_Allison", Speaker("allison-en", "Allison Smith", "f", "package", "en-US",
                                "CC-BY-SA-3.0", "debian:asterisk-core-sounds-en-g722"), "en"),
    ("fr_CA_f_June", Speaker("june-fr", "June Wallack", "f", "package", "fr-CA",
                             "CC-BY-SA-3.0", "debian:asterisk-core-sounds-fr-g722"), "fr"),
    ("it_IT_m_Carlo", Speaker("carlo-it", "Carlo Flora", "m", "package", "it-IT",
                              "CC-BY-3.0", "debian:asterisk-core-sounds-it-g722"), "it"),
    ("ru_RU_f_IvrvoiceRU", Speaker("ivrvoice-ru", "ivrvoice.ru (Maxim Topal)", "f", "package",
                                   "ru-RU", "CC-BY-3.0", "debian:asterisk-core-sounds-ru-g722"), "ru"),
]


def _asterisk_prompts(directory: Path) -> list[Path]:
    # top-level prompts only, in name order (stable across machines)
    return sorted(directory.glob("*.g722"))


# LibriVox (public domain) and CMU Sphinx test recordings inside the pocketsphinx sdist.
_PS = f"pocketsphinx-{POCKETSPHINX_VERSION}/test/"
POCKETSPHINX_SPEAKERS = [
    (Speaker("librivox-austen", "LibriVox reader, Sense and Sensibility ch. 1", "m", "f0",
             "en", "public domain (LibriVox)", f"pypi:pocketsphinx=={POCKETSPHINX_VERSION}"),
     [_PS + f"data/librivox/sense_and_sensibility_01_austen_64kb-{n}.wav"
      for n in ("0870", "0880", "0890", "0920", "0930")]),
    (Speaker("sphinx-chan3", "CMU Sphinx regression recording chan3", "m", "f0", "en",
             "BSD-2-Clause (pocketsphinx)", f"pypi:pocketsphinx=={POCKETSPHINX_VERSION}"),
     [_PS + "regression/chan3.wav"]),
    (Speaker("sphinx-tests", "CMU Sphinx test recordings (commands, digits, cards)", "m", "f0",
             "en", "BSD-2-Clause (pocketsphinx)", f"pypi:pocketsphinx=={POCKETSPHINX_VERSION}"),
     [_PS + "data/goforward.raw", _PS + "data/numbers.raw", _PS + "data/something.raw",
      _PS + "data/tidigits/dhd.2934z.raw"]
     + [_PS + f"data/cards/00{i}.wav" for i in range(1, 6)]
     + [_PS + "data/forever/input_2_16k.wav", _PS + "data/forever/input_4_16k.wav"]),
]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pip_download_command(destination: Path) -> list[str]:
    """`pip download` of the pinned pocketsphinx source distribution that compiles nothing.

    pip prepares an sdist's metadata even for `download`, in an isolated environment holding
    the package's build requirements (scikit-build-core, Cython, and CMake where none is on
    PATH). pip hands its binary/source choice on to that environment, so `--no-binary :all:`
    made it compile Cython and CMake from source (half an hour on 2 cores).
    `--only-binary :all:` then `--no-binary pocketsphinx` (in this order: the later, named
    option wins for that one package) takes pocketsphinx as a source archive and every build
    requirement as a wheel only: a requirement without a wheel fails instead of compiling.
    The metadata hook itself compiles nothing. (`--no-build-isolation` is no way out: the
    hook then needs scikit-build-core in our own environment and fails without it.)
    """
    return [sys.executable, "-m", "pip", "download", "--no-deps",
            "--only-binary", ":all:", "--no-binary", "pocketsphinx",
            "-q", "-d", str(destination), f"pocketsphinx=={POCKETSPHINX_VERSION}"]


def pocketsphinx_sdist(download_dir: Path) -> Path:
    """The pinned pocketsphinx sdist: from the cache, else `pip download` (PyPI's ordinary client)."""
    path = download_dir / POCKETSPHINX_SDIST
    if not path.is_file():
        download_dir.mkdir(parents=True, exist_ok=True)
        print(f"[corpus] pip download pocketsphinx=={POCKETSPHINX_VERSION} (source distribution)",
              file=sys.stderr)
        with tempfile.TemporaryDirectory() as tmp:
            result = subprocess.run(pip_download_command(Path(tmp)), capture_output=True, text=True)
            got = Path(tmp) / POCKETSPHINX_SDIST
            if result.returncode != 0 or not got.is_file():
                raise CorpusSourceMissing("pip download pocketsphinx failed: "
                                          + (result.stderr.strip().splitlines() or ["?"])[-1])
            got.replace(path)
    digest = _sha256(path)
    if digest != POCKETSPHINX_SHA256:
        path.unlink()
        raise CorpusSourceMissing(f"{POCKETSPHINX_SDIST}: sha256 {digest} is not the pinned "
                                  f"{POCKETSPHINX_SHA256}")
    return path


def _read_member(archive: tarfile.TarFile, name: str) -> np.ndarray:
    data = archive.extractfile(name).read()  # type: ignore[union-attr]
    if name.endswith(".raw"):  # headerless 16 kHz 16-bit little-endian mono (Sphinx convention)
        return to_mono_48k(np.frombuffer(data, dtype="<i2"), 16000)
    import soundfile
    audio, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return to_mono_48k(audio, rate)


# ---------------------------------------------------------------- preparation

def _missing_packages(root: Path) -> list[str]:
    return [speaker.source.split(":", 1)[1] for directory, speaker, _ in ASTERISK_SPEAKERS
            if not _asterisk_prompts(root / directory)]


def _write(directory: Path, name: str, pcm: np.ndarray, speaker: Speaker, parts: list[str]) -> Clip:
    pcm = normalise(pcm)
    path = directory / f"{name}.wav"
    write_wav(path, pcm)
    f0 = median_f0(pcm)
    return Clip(name=name, path=path.name, speaker=speaker.id, sex=speaker.sex,
                sex_basis=speaker.sex_basis, language=speaker.language, licence=speaker.licence,
                source=speaker.source, seconds=pcm.size / SAMPLE_RATE,
                f0_hz=None if f0 is None else round(f0, 1), parts=parts)


def prepare(directory: Path | None = None, asterisk_root: Path = ASTERISK_ROOT,
            force: bool = False, log: Callable[[str], None] | None = None) -> Path:
    """Build the corpus (idempotent: a complete manifest with all its files is kept)."""
    log = log or (lambda text: print(f"[corpus] {text}", file=sys.stderr))
    directory = directory or corpus_dir()
    if not force:
        try:
            clips = load_manifest(directory)
            log(f"corpus present in {directory} ({len(clips)} clips)")
            return directory
        except CorpusNotPrepared:
            pass
    missing = _missing_packages(asterisk_root)
    if missing:
        raise CorpusSourceMissing("install the Debian packages " + " ".join(missing)
                                  + " (make setup does)")
    directory.mkdir(parents=True, exist_ok=True)
    clips: list[Clip] = []
    speakers: dict[str, dict] = {}
    for subdir, speaker, prefix in ASTERISK_SPEAKERS:
        files = _asterisk_prompts(asterisk_root / subdir)
        made = join_into_clips((_decode_g722(path) for path in files), CLIP_SECONDS, ASTERISK_CLIPS)
        for i, (pcm, used) in enumerate(made):
            clips.append(_write(directory, f"{speaker.id}-{i:02d}", pcm, speaker,
                                [f"{subdir}/{files[j].name}" for j in used]))
        speakers[speaker.id] = asdict(speaker)
        log(f"{speaker.id}: {len(made)} clips")
    sdist = pocketsphinx_sdist(cache_dir() / "downloads")
    with tarfile.open(sdist) as archive:
        for speaker, members in POCKETSPHINX_SPEAKERS:
            made = join_into_clips((_read_member(archive, name) for name in members),
                                   CLIP_SECONDS, None)
            for i, (pcm, used) in enumerate(made):
                clips.append(_write(directory, f"{speaker.id}-{i:02d}", pcm, speaker,
                                    [members[j].split("/test/", 1)[1] for j in used]))
            speakers[speaker.id] = asdict(speaker)
            log(f"{speaker.id}: {len(made)} clips")
    manifest = {
        "version": MANIFEST_VERSION,
        "clip_seconds": CLIP_SECONDS,
        "sample_rate": SAMPLE_RATE,
        "level_dbov": TARGET_DBOV,
        "speakers": speakers,
        "clips": [{k: v for k, v in asdict(clip).items()} for clip in clips],
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(clip.seconds for clip in clips)
    log(f"wrote {len(clips)} clips ({total / 60:.1f} min, {len(speakers)} speakers) to {directory}")
    return directory


def load_manifest(directory: Path | None = None) -> list[Clip]:
    """The corpus clips with absolute paths; CorpusNotPrepared when anything is missing."""
    directory = directory or corpus_dir()
    path = directory / MANIFEST
    if not path.is_file():
        raise CorpusNotPrepared(f"{path} missing; run `make setup` (python -m dred_rtc.eval.corpus)")
    try:
        manifest = json.loads(path.read_text())
        if manifest.get("version") != MANIFEST_VERSION:
            raise ValueError(f"version {manifest.get('version')}")
        clips = [Clip(**entry) for entry in manifest["clips"]]
    except (ValueError, KeyError, TypeError) as error:
        raise CorpusNotPrepared(f"{path} is not a valid corpus manifest ({error}); "
                                "rerun python -m dred_rtc.eval.corpus --force") from None
    for clip in clips:
        clip.path = str(directory / clip.path)
        if not Path(clip.path).is_file():
            raise CorpusNotPrepared(f"{clip.path} missing; rerun python -m dred_rtc.eval.corpus --force")
    return clips


def quick_subset(clips: list[Clip], count: int = 4) -> list[Clip]:
    """`count` clips alternating female / male speakers, each from a different speaker where
    possible (deterministic: manifest order)."""
    by_sex: dict[str, list[Clip]] = {"f": [], "m": []}
    seen: set[str] = set()
    for clip in clips:  # first clip of each speaker first
        if clip.speaker not in seen and clip.sex in by_sex:
            by_sex[clip.sex].append(clip)
            seen.add(clip.speaker)
    for clip in clips:
        if clip.sex in by_sex and clip not in by_sex[clip.sex]:
            by_sex[clip.sex].append(clip)
    chosen: list[Clip] = []
    order = ["f", "m"]
    index = {"f": 0, "m": 0}
    while len(chosen) < count and any(index[s] < len(by_sex[s]) for s in order):
        for sex in order:
            if len(chosen) < count and index[sex] < len(by_sex[sex]):
                chosen.append(by_sex[sex][index[sex]])
                index[sex] += 1
    return chosen


def user_clips(paths: Iterable[str | Path]) -> list[Clip]:
    """Clips from user WAVs and directories of WAVs (sorted); AudioFileError if unreadable."""
    clips: list[Clip] = []
    for item in paths:
        item = Path(item)
        if item.is_dir():
            files = sorted(item.glob("*.wav")) + sorted(item.glob("*.WAV"))
            if not files:
                raise AudioFileError(f"{item}: directory holds no .wav files")
        elif item.is_file():
            files = [item]
        else:
            raise AudioFileError(f"{item}: no such file or directory")
        for path in files:
            pcm = read_wav(path)
            if pcm.size < SAMPLE_RATE:
                raise AudioFileError(f"{path}: shorter than 1 s")
            clips.append(Clip(name=path.stem, path=str(path), seconds=pcm.size / SAMPLE_RATE))
    names: dict[str, int] = {}
    for clip in clips:  # unique names for the report
        if clip.name in names:
            names[clip.name] += 1
            clip.name = f"{clip.name}-{names[clip.name]}"
        else:
            names[clip.name] = 0
    return clips


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dred_rtc.eval.corpus",
                                     description="Prepare the evaluation speech corpus.")
    parser.add_argument("--force", action="store_true", help="rebuild even if present")
    parser.add_argument("--dir", type=Path, default=None, help="output directory")
    args = parser.parse_args(argv)
    try:
        prepare(args.dir, force=args.force)
    except (CorpusSourceMissing, OSError) as error:
        print(f"[corpus] error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
