"""The control channel: its messages, and the observers its valid messages reach."""

from __future__ import annotations

import asyncio
import json

from aiortc import RTCPeerConnection

from dred_rtc.rtc import control


def test_control_messages_round_trip_and_malformed_ones_are_dropped():
    for message in (control.loss(0.2, 2.5, 50), control.loss(0.0, None, 50),
                    control.loss(0.1, 1.5, 50, delay_ms=80.0, budget_ms=123.5), control.clock(123, 1.5e9),
                    control.end(1500), control.end_ack(), control.bye()):
        assert control.parse(json.dumps(message)) == message
    for bad in ("", "[]", "{", '{"type": "loss"}', '{"type": "clock", "rtp_origin": -1, "start_time": 1}',
                '{"type": "end", "frames": "many"}', '{"type": "end", "frames": true}', '{"type": "nope"}',
                '{"type": "loss", "fraction": NaN}', '{"type": "loss", "fraction": 0, "budget_ms": -5}',
                '{"type": "loss", "fraction": 0, "delay_ms": "long"}', b'{"type": "bye"}', "x" * 5000):
        assert control.parse(bad) is None


def test_channel_hands_valid_messages_to_their_observers_and_sends_only_when_open():
    async def main():
        pc = RTCPeerConnection()
        channel = control.ControlChannel(pc)
        seen: list[dict] = []
        channel.on("end", seen.append)
        channel.on("end", lambda message: seen.append({"again": message["frames"]}))
        for data in (json.dumps(control.end(7)), json.dumps(control.bye()), '{"type": "end"}', b"x"):
            channel.channel.emit("message", data)
        sent = channel.send(control.bye())        # not connected: the channel is not open
        label, ident = channel.channel.label, channel.channel.id
        await pc.close()
        return seen, sent, label, ident
    seen, sent, label, ident = asyncio.run(main())
    assert seen == [control.end(7), {"again": 7}]
    assert sent is False and (label, ident) == (control.CHANNEL_LABEL, control.CHANNEL_ID)
