"""The evaluation corpus `make setup` prepares: real speech, several speakers of both sexes."""

from collections import Counter

import numpy as np
import pytest

from dred_rtc.audio.wav import write_wav
from dred_rtc.errors import AudioFileError
from dred_rtc.media import SAMPLE_RATE
from dred_rtc.eval.corpus import (CLIP_SECONDS, CorpusNotPrepared, TARGET_DBOV, active_level_dbov,
                                  join_into_clips, load_manifest, median_f0, quick_subset,
                                  user_clips)


@pytest.fixture(scope="module")
def clips():
    try:
        return load_manifest()
    except CorpusNotPrepared as error:
        pytest.fail(f"evaluation corpus missing (make setup prepares it): {error}")


def test_manifest_has_enough_real_speech_of_both_sexes(clips):
    assert sum(clip.seconds for clip in clips) >= 5 * 60
    speakers = {(clip.speaker, clip.sex) for clip in clips}
    sexes = Counter(sex for _, sex in speakers)
    assert sexes["f"] >= 2 and sexes["m"] >= 2, speakers
    for clip in clips:
        assert clip.licence and clip.source and clip.sex_basis in ("package", "f0")
        assert clip.parts, clip.name


def test_clips_are_ten_seconds_48k_at_the_target_level(clips):
    for clip in clips[::4]:
        pcm = clip.load()
        assert pcm.dtype == np.int16
        assert pcm.size == int(CLIP_SECONDS * SAMPLE_RATE)
        assert active_level_dbov(pcm) == pytest.approx(TARGET_DBOV, abs=0.5)


def test_sex_labels_taken_from_f0_are_consistent(clips):
    # where the source does not name the sex, the label must follow the measured F0
    for clip in clips:
        if clip.sex_basis == "f0":
            assert clip.f0_hz is not None
            assert (clip.f0_hz < 165) == (clip.sex == "m"), clip


def test_median_f0_of_a_harmonic_tone():
    t = np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE
    tone = sum(np.sin(2 * np.pi * 120 * k * t) / k for k in range(1, 6))
    pcm = (3000 * tone).astype(np.int16)
    assert median_f0(pcm) == pytest.approx(120, abs=3)


def test_join_never_repeats_material_and_drops_the_remainder():
    # 3 s utterances + 0.25 s pauses: four make a 10 s clip; the ninth is a remainder
    utterances = [np.full(SAMPLE_RATE * 3, i + 1, dtype=np.int16) for i in range(9)]
    made = join_into_clips(utterances, 10.0, None)
    assert [indices for _, indices in made] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert all(clip.size == 10 * SAMPLE_RATE for clip, _ in made)
    assert not any(np.any(clip == 9) for clip, _ in made)
    assert set(np.unique(made[1][0])) == {0, 5, 6, 7, 8}


def test_quick_subset_alternates_sexes_and_speakers(clips):
    subset = quick_subset(clips, 4)
    assert [clip.sex for clip in subset] == ["f", "m", "f", "m"]
    assert len({clip.speaker for clip in subset}) == 4


def test_user_clips(tmp_path):
    write_wav(tmp_path / "a.wav", np.zeros(2 * SAMPLE_RATE, dtype=np.int16))
    (tmp_path / "sub").mkdir()
    write_wav(tmp_path / "sub" / "a.wav", np.zeros(2 * SAMPLE_RATE, dtype=np.int16))
    found = user_clips([tmp_path / "a.wav", tmp_path / "sub"])
    assert [clip.name for clip in found] == ["a", "a-1"]
    assert found[0].seconds == pytest.approx(2.0)
    with pytest.raises(AudioFileError):
        user_clips([tmp_path / "missing.wav"])
    write_wav(tmp_path / "short.wav", np.zeros(100, dtype=np.int16))
    with pytest.raises(AudioFileError, match="shorter"):
        user_clips([tmp_path / "short.wav"])


def test_pocketsphinx_download_compiles_nothing(tmp_path):
    """The sdist is fetched as source, and pip may take its build requirements (Cython, CMake)
    only as wheels, also inside the isolated build environment it prepares metadata in."""
    from pip._internal.commands import create_command

    from dred_rtc.eval.corpus import pip_download_command

    argv = pip_download_command(tmp_path)
    assert argv[1:4] == ["-m", "pip", "download"] and "--no-deps" in argv
    options, _ = create_command("download").parse_args(argv[4:])
    formats = options.format_control
    assert formats.get_allowed_formats("pocketsphinx") == frozenset({"source"})
    for build_requirement in ("cython", "cmake", "ninja", "scikit-build-core"):
        assert formats.get_allowed_formats(build_requirement) == frozenset({"binary"})
    # pip passes its choice on to the build environment as --no-binary X --only-binary Y
    nested = []
    for name in ("no_binary", "only_binary"):
        nested += ["--" + name.replace("_", "-"),
                   ",".join(sorted(getattr(formats, name) or {":none:"}))]
    nested_options, _ = create_command("install").parse_args(nested + ["cython"])
    for build_requirement in ("cython", "cmake", "scikit-build-core"):
        assert nested_options.format_control.get_allowed_formats(build_requirement) == \
            frozenset({"binary"})
