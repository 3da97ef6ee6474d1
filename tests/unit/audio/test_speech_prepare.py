"""Speech preparation from an empty cache, as `make setup` runs it on a fresh machine.

Every other test reads the speech cache a developer's machine already has, so a wrong source
path (issue 13: `/usr/share/asterisk/sounds/en`, a link no installed package made) stayed
hidden. This one starts from nothing and reads only what the Debian package really ships.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dred_rtc.audio.speech import ASTERISK_PROMPTS, CLIP_COUNT, CLIP_SECONDS, LONG_CLIP_SECONDS
from dred_rtc.audio.wav import read_wav
from dred_rtc.media import SAMPLE_RATE


def test_prepare_speech_from_an_empty_cache(tmp_path: Path) -> None:
    env = dict(os.environ, DRED_RTC_CACHE=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "dred_rtc.audio.speech"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"speech preparation failed from {ASTERISK_PROMPTS}: {done.stderr}"
    speech = tmp_path / "speech"
    for i in range(CLIP_COUNT):
        pcm = read_wav(speech / f"clip{i:02d}.wav")
        assert pcm.size == CLIP_SECONDS * SAMPLE_RATE
        assert int(abs(pcm.astype("int32")).max()) > 1000, "clip is silent"
    assert read_wav(speech / "long.wav").size == LONG_CLIP_SECONDS * SAMPLE_RATE


def test_missing_prompts_name_the_debian_package(tmp_path: Path) -> None:
    from dred_rtc.audio.speech import SpeechNotPrepared, prepare
    try:
        prepare(tmp_path / "speech", source=tmp_path / "nowhere")
    except SpeechNotPrepared as error:
        assert "asterisk-core-sounds-en-g722" in str(error)
    else:
        raise AssertionError("prepare() succeeded without prompts")
