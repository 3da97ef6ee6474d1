"""The live stats message: the page's fields as before, plus the metrics' rebuild and bursts."""

from __future__ import annotations

from dred_rtc.jitter import JitterConfig
from dred_rtc.rtc.statschannel import stats_message

from ..jitter.helpers import encode, play, rtp


def test_message_states_the_report_figures_and_the_rebuilt_fraction_per_lost_frame(speech_10s):
    packets = rtp(encode(speech_10s[:48000 * 4], bitrate=48000, fec=True, expected_loss=20))
    lost = {50, 51, 52, 53, 120, 160}
    _, buffer = play([p for k, p in enumerate(packets) if k not in lost], 230,
                     JitterConfig(keep_log=False))
    report = buffer.report()
    message = stats_message(report, final=True, elapsed=4.0, current_delay_ms=None,
                            receive_kbps=None, settings=None, measured_send_kbps=None)
    assert message["frames"]["lost_network"] == len(lost)
    assert message["loss_percent"] == round(100 * len(lost) / len(packets), 3)
    assert message["delay_ms"]["mean"] == round(report["delay_ms"]["mean"], 3)
    assert message["bursts"] == {"count": 3, "mean": 2.0, "max": 4}
    rebuild = message["rebuild"]
    assert rebuild["lost"] == len(lost) == rebuild["rebuilt"] + rebuild["concealed"]
    assert rebuild["by_source"]["lbrr"] >= 2   # the single losses, from the next packet's LBRR
    assert rebuild["percent"] == round(100 * report["rebuild"]["rebuilt_fraction"], 1)
