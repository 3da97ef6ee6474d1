"""`dred-rtc call ROOM --server URL`: join a room, call whoever is there (or wait), talk.

Input: a WAV (`--input`, real-time paced) or the microphone (`--mic`); neither sends silence.
Output: a WAV (`--output`, valid even if the call is cut), the speaker (`--speaker`, whose
callback is then the playout clock), both, or neither. A one-line status shows loss, the rebuilt fraction, delay and
bitrate on a terminal; `--stats-json` gets the final report, with the keys of `simulate`'s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from ..errors import AudioFileError, UsageError
from ..jitter.choice import add_playout_arguments, playout_from_args
from ..jitter.metrics import ReceiveFigures
from ..media import FRAME

log = logging.getLogger(__name__)

#: the longest a call waits for ICE and DTLS once a peer has answered (s)
CONNECT_MAX_S = 60.0


def add_media_options(parser: argparse.ArgumentParser) -> None:
    """Encoder and impairment options shared by `call` (and usable by other commands)."""
    group = parser.add_argument_group(
        "sending", "adaptive within --max-bitrate by default; any of --bitrate, --dred-ms, --fec/--no-fec "
                   "selects a fixed configuration (its expected loss still follows the peer's reports)")
    group.add_argument("--adaptive", dest="adaptive", action="store_true", default=None,
                       help="choose bitrate, FEC and DRED depth from the peer's loss reports (default)")
    group.add_argument("--no-adaptive", dest="adaptive", action="store_false",
                       help="fixed configuration from --bitrate/--dred-ms/--fec")
    group.add_argument("--max-bitrate", type=int, default=64000, metavar="BPS",
                       help="budget for the adaptive controller, bits/s (default 64000)")
    group.add_argument("--bitrate", type=int, metavar="BPS", help="fixed total bitrate (default 32000)")
    group.add_argument("--dred-ms", type=int, metavar="MS", help="fixed DRED depth, 0..1040 ms (default 200)")
    group.add_argument("--fec", dest="fec", action="store_true", default=None, help="fixed: send LBRR")
    group.add_argument("--no-fec", dest="fec", action="store_false", help="fixed: no LBRR (default)")
    group.add_argument("--dred-to-any", action="store_true",
                       help="send DRED also to a peer that states no DRED depth (a browser, which "
                            "ignores it: the interop demo); by default such a peer gets LBRR and RED")
    group.add_argument("--no-red", dest="red", action="store_false",
                       help="neither offer nor accept RED (RFC 2198) redundancy for Opus")
    group.add_argument("--impair-send", metavar="SPEC",
                       help="impair the RTP we send (same SPEC as --impair), e.g. to hear what a "
                            "browser makes of our redundancy under loss")
    group = parser.add_argument_group("receiving")
    group.add_argument("--impair", metavar="SPEC",
                       help="impair received RTP where a network would (before receiver reports): "
                            "stages joined by '+', e.g. lossgen:0.2, gilbert:0.05,0.5+normal:20,5")
    group.add_argument("--seed", type=int, default=1, help="seed of the impairment models (default 1)")
    group.add_argument("--plc", choices=["deep", "classic"], default="deep", help="concealment (default deep)")
    add_playout_arguments(group)


def peer_options(args: argparse.Namespace):
    """PeerOptions from parsed arguments; UsageError for contradictions."""
    from ..impair import ImpairSpecError
    from ..opus import MAX_DRED_MS
    from .impairer import parse_impair_spec
    from .peer import PeerOptions
    fixed_given = args.bitrate is not None or args.dred_ms is not None or args.fec is not None
    if args.adaptive and fixed_given:
        raise UsageError("--adaptive chooses bitrate, FEC and DRED itself: drop --bitrate/--dred-ms/--fec "
                         "or add --no-adaptive")
    adaptive = args.adaptive if args.adaptive is not None else not fixed_given
    for name, value, low, high in (("--bitrate", args.bitrate, 6000, 510000),
                                   ("--max-bitrate", args.max_bitrate, 12000, 510000),
                                   ("--dred-ms", args.dred_ms, 0, MAX_DRED_MS)):
        if value is not None and not low <= value <= high:
            raise UsageError(f"{name} {value}: must be {low}..{high}")
    for name, spec in (("--impair", args.impair), ("--impair-send", args.impair_send)):
        try:
            parse_impair_spec(spec, seed=args.seed)
        except ImpairSpecError as error:
            raise UsageError(f"{name}: {error}") from None
    return PeerOptions(adaptive=adaptive, max_bitrate=args.max_bitrate,
                       bitrate=args.bitrate if args.bitrate is not None else 32000,
                       fec=bool(args.fec), dred_ms=args.dred_ms if args.dred_ms is not None else 200,
                       impair=args.impair, impair_send=args.impair_send, red=args.red,
                       dred_to_any=args.dred_to_any, seed=args.seed, loopback=args.loopback,
                       ice_servers=ice_servers_from_args(args), ice_policy=args.ice_policy,
                       plc=args.plc, playout=playout_from_args(args),
                       media_timeout=args.media_timeout)


def ice_servers_from_args(args: argparse.Namespace) -> list:
    """--stun/--turn/--turn-user/--turn-password as ice.IceServer entries (UsageError if bad)."""
    import os

    from .ice import IceConfigError, servers_from_options
    password = args.turn_password or (os.environ.get("DRED_RTC_TURN_PASSWORD") if args.turn_user else None)
    try:
        return servers_from_options(args.stun, args.turn, args.turn_user, password)
    except IceConfigError as error:
        raise UsageError(str(error)) from None


def status_line(peer) -> str:
    """One line for a terminal: what we receive (loss, what rebuilt the lost frames, delay)
    and what we send (bitrate, the loss the peer reports, the controller's settings)."""
    report = peer.receiver.report()
    delay = report.get("delay_ms", {})
    s = peer.track.settings
    return (f"in: {ReceiveFigures.from_report(report).describe()}, delay "
            f"{delay.get('one_way_mean', delay.get('mean', 0)) or 0:.0f} ms | out: "
            f"{peer.send_bitrate / 1000:.0f} kb/s, peer loss {100 * peer.controller.estimate.value:.1f}% -> "
            f"{s.bitrate // 1000}k{' FEC' if s.fec else ''}{f' DRED {s.dred_ms}ms' if s.dred_ms else ''}"
            f"{f' RED {s.red_distance}' if s.red_distance else ''} "
            f"exp {s.expected_loss}%")


def _open_source(args: argparse.Namespace):
    if args.input and args.mic is not None:
        raise UsageError("use either --input or --mic")
    if args.input:
        from ..audio.wavsource import WavSource
        try:
            return WavSource(args.input, loop_forever=args.loop_input)
        except AudioFileError as error:
            raise UsageError(str(error)) from None
    if args.mic is not None:
        try:
            from ..audio.devices import MicrophoneSource, NoAudioDevice
        except ImportError as error:
            raise UsageError(f"--mic: audio devices unavailable ({error})") from None
        try:
            return MicrophoneSource(device=args.mic or None)
        except NoAudioDevice as error:
            raise UsageError(str(error)) from None
    return None


def _open_clock(args: argparse.Namespace):
    from .clock import DeviceClock, TimerClock
    if args.speaker is None:
        return TimerClock()
    try:
        from ..audio.devices import NoAudioDevice, SpeakerSink, find_device
    except ImportError as error:
        raise UsageError(f"--speaker: audio devices unavailable ({error})") from None
    device = args.speaker or None
    try:  # fail now, with the device's message, rather than mid-call
        find_device(device, "output")
    except NoAudioDevice as error:
        raise UsageError(str(error)) from None
    return DeviceClock(lambda pull: SpeakerSink(device, pull))


async def _call(args: argparse.Namespace) -> int:
    from ..audio.wavsink import WavSink
    from .ice import TurnError

    try:
        signaling, peer = await _join(args)
    except TurnError as error:
        print(f"dred-rtc call: call failed: {error}", file=sys.stderr, flush=True)
        return 1
    sink = WavSink(args.output) if args.output else None
    if sink is not None:
        peer.receiver.sinks.append(sink.write)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, peer.stop_requested.set)
        except (NotImplementedError, RuntimeError):
            pass
    tty = sys.stderr.isatty() and not args.quiet
    code, reason = await _talk(args, signaling, peer, sink, tty)
    _summarise(args, peer, sink, reason)
    return code


async def _join(args: argparse.Namespace):
    """Join the room, then make the peer: the signaling server may hand out STUN/TURN servers
    on join, and TURN is checked before the call (a clear error now, not a silent hang)."""
    from .ice import IceConfigError, IceServer, usable_servers
    from .peer import Peer
    from .signaling import SignalingClient, SignalingError

    options = peer_options(args)
    source = _open_source(args)
    clock = _open_clock(args)
    try:
        signaling = await SignalingClient.connect(args.server, args.room, verify=not args.insecure,
                                                  cafile=args.cafile)
    except SignalingError as error:
        raise UsageError(str(error)) from None
    try:
        servers = options.ice_servers + [IceServer.from_value(s) for s in signaling.ice_servers]
        options.ice_servers = await usable_servers(servers)
        peer = Peer(options, source=source, clock=clock)
    except IceConfigError as error:
        await signaling.close()
        raise UsageError(str(error)) from None
    except BaseException:
        await signaling.close()
        raise
    if options.ice_servers:
        shown = "; ".join(IceServer.from_value(s).redacted() for s in options.ice_servers)
        print(f"dred-rtc call: ICE servers {shown} (policy {options.ice_policy})", file=sys.stderr, flush=True)
    return signaling, peer


async def _talk(args: argparse.Namespace, signaling, peer, sink, tty: bool) -> tuple[int, str]:
    """Wait for a peer, run the call until it ends; (exit code, why it ended)."""
    from .ice import describe_pair
    from .negotiation import NegotiationError
    from .statschannel import StatsPublisher

    status = (lambda p: print("\r" + status_line(p)[:150].ljust(130), end="", file=sys.stderr, flush=True)) if tty else None
    code = 0
    reason = "not connected"
    publisher: "StatsPublisher | None" = None
    try:
        print(f"dred-rtc call: joined room {args.room!r} as {signaling.peer_id}"
              f"{'' if signaling.peers else ', waiting for a peer'}", file=sys.stderr, flush=True)
        try:
            # DTLS over a lossy link retransmits its flights after 1, 2, 4, 8 ... s: at 20 %
            # loss each way a handshake can take tens of seconds, so the wait bounds it too
            connect = asyncio.ensure_future(peer.connect(signaling, timeout=min(args.wait, CONNECT_MAX_S)))
            stop = asyncio.ensure_future(peer.stop_requested.wait())
            done, _ = await asyncio.wait({connect, stop}, timeout=args.wait, return_when=asyncio.FIRST_COMPLETED)
            if connect not in done:
                connect.cancel()
                await asyncio.gather(connect, return_exceptions=True)
                reason = "hung up before a peer answered" if stop in done else f"no peer within {args.wait:g} s"
                code = 0 if stop in done else 1
            else:
                stop.cancel()
                negotiated = connect.result()
                print(f"dred-rtc call: connected ({negotiated.role}); peer states {negotiated.remote_fmtp}",
                      file=sys.stderr, flush=True)
                print(f"dred-rtc call: ICE {describe_pair(peer.ice_pair)}", file=sys.stderr, flush=True)
                if tty or args.verbose:
                    peer.on_decision = lambda d: print(("\n" if tty else "") + f"sender: {d.describe()}",
                                                       file=sys.stderr, flush=True)
                publisher = StatsPublisher(peer)
                publisher.start()
                reason = await peer.run(duration=args.duration, status=status)
        except (NegotiationError, ConnectionError, asyncio.TimeoutError) as error:
            reason = f"call failed: {error or type(error).__name__}"
            code = 1
    finally:
        if publisher is not None:
            await publisher.finish()
        await peer.close()
        if sink is not None:
            # The sender's end-of-input message rides a reliable channel that a lossy link can
            # delay past the end of the media: frames played after the input ended are cut.
            if peer.receiver.output_limit is not None:
                sink.truncate(peer.receiver.output_limit * FRAME)
            sink.close()
        if tty:
            print(file=sys.stderr)
    return code, reason


def _summarise(args: argparse.Namespace, peer, sink, reason: str) -> None:
    """The report to --stats-json and one closing line."""
    report = peer.report()
    report["ended"] = reason
    if args.stats_json:
        Path(args.stats_json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.stats_json).write_text(json.dumps(report, indent=2))
    frames = report.get("frames", {})
    print(f"dred-rtc call: {reason}; played {frames.get('total', 0)} frames (normal {frames.get('normal', 0)}, "
          f"red {frames.get('red', 0)}, lbrr {frames.get('lbrr', 0)}, dred {frames.get('dred', 0)}, "
          f"plc {frames.get('plc', 0)}), "
          f"lost {report.get('network', {}).get('packets_lost', 0)} packets"
          + (f"; wrote {args.output} ({sink.seconds:.2f} s)" if sink is not None else ""),
          file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    if args.duration is not None and args.duration <= 0:
        raise UsageError(f"--duration {args.duration:g}: must be > 0")
    if args.input and not Path(args.input).is_file():
        raise UsageError(f"--input {args.input}: no such file")
    return asyncio.run(_call(args))


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "call", help="join a room and talk (WAV or microphone in, WAV or speaker out)",
        description="Join ROOM on the signaling server, call whoever is there or wait for them, "
                    "and send Opus with DRED/LBRR chosen from the peer's loss reports; received "
                    "audio is played out through our jitter buffer. Ends after --duration, when "
                    "both inputs have been played out, when the peer leaves, or on Ctrl-C.")
    parser.add_argument("room", metavar="ROOM")
    parser.add_argument("--server", required=True, metavar="URL", help="signaling server, e.g. http://127.0.0.1:8765")
    source = parser.add_argument_group("audio")
    source.add_argument("--input", metavar="WAV", help="send this file (any rate/channels), in real time")
    source.add_argument("--loop-input", action="store_true", help="repeat --input until the call ends")
    source.add_argument("--mic", nargs="?", const="", metavar="DEVICE", help="send the microphone (name or index)")
    source.add_argument("--output", metavar="WAV", help="write what is played out (valid at any moment)")
    source.add_argument("--speaker", nargs="?", const="", metavar="DEVICE", help="play to the speaker (name or index)")
    parser.add_argument("--duration", type=float, metavar="S", help="hang up after S seconds of media")
    parser.add_argument("--stats-json", metavar="FILE", help="final report (keys of the simulate report)")
    add_media_options(parser)
    net = parser.add_argument_group("network")
    net.add_argument("--loopback", action="store_true",
                     help="offer 127.0.0.1 host candidates only (both peers on this machine)")
    net.add_argument("--stun", action="append", metavar="URL",
                     help="STUN server, e.g. stun:stun.example.org:3478 (default: none, host candidates only; "
                          "the signaling server may add its own)")
    net.add_argument("--turn", action="append", metavar="URL",
                     help="TURN relay, e.g. turn:turn.example.org:3478?transport=udp|tcp or "
                          "turns:turn.example.org:5349, with --turn-user/--turn-password (aiortc uses the first)")
    net.add_argument("--turn-user", metavar="NAME", help="TURN user name")
    net.add_argument("--turn-password", metavar="PASSWORD",
                     help="TURN password (or set $DRED_RTC_TURN_PASSWORD, which keeps it out of the process list)")
    net.add_argument("--ice-policy", choices=["all", "relay"], default="all",
                     help="relay: use only TURN-relayed candidates (hides our addresses; tests the relay)")
    net.add_argument("--wait", type=float, default=120.0, metavar="S", help="how long to wait for a peer (default 120)")
    net.add_argument("--media-timeout", type=float, default=3.0, metavar="S",
                     help="no media for this long means the peer is gone (default 3)")
    net.add_argument("--cafile", metavar="FILE", help="CA/certificate file for an https server")
    net.add_argument("--insecure", action="store_true", help="do not verify the server's certificate")
    parser.add_argument("-q", "--quiet", action="store_true", help="no live status line")
    parser.set_defaults(func=run)
