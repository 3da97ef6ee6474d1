"""The web contract (signaling_server/web/contract.json) against both of its sides.

Python: the stats message `dred_rtc/rtc/statschannel.py` builds from a real jitter buffer's
report has exactly the contract's fields with their types, and the panel shows only fields
that exist. The page: its modules copy no contract constant and use only the contract's
signaling message types. A field added on one side only makes these tests fail.
"""

from __future__ import annotations

import re
from importlib import resources

import pytest

from dred_rtc.jitter import make_playback
from dred_rtc.rtc import control, statschannel
from dred_rtc.rtc.controller import Settings
from signaling_server import protocol
from signaling_server.contract import CHANNELS, CONTRACT, ROOM_PATTERN, SIGNALING, STATS
from tests.unit.jitter.helpers import encode, rtp

WEB = resources.files("signaling_server").joinpath("web")
TYPES = {"integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
         "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
         "string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
         "array": lambda v: isinstance(v, list),
         "counts": lambda v: isinstance(v, dict) and all(
             isinstance(k, str) and isinstance(n, int) for k, n in v.items())}


def schema_errors(value, schema, where: str = "message") -> list[str]:
    """Where `value` differs from a contract schema: a type name ("number|null" allows null)
    or a group {"nullable": bool, "fields": {...}}."""
    if isinstance(schema, str):
        names = schema.split("|")
        ok = (value is None and "null" in names) or any(TYPES[n](value) for n in names if n != "null")
        return [] if ok else [f"{where}: {value!r} is not {schema}"]
    if value is None:
        return [] if schema.get("nullable") else [f"{where}: null"]
    if not isinstance(value, dict):
        return [f"{where}: {value!r} is not an object"]
    fields = schema["fields"] if "fields" in schema else schema
    errors = [f"{where}.{key}: not in the contract" for key in sorted(set(value) - set(fields))]
    errors += [f"{where}.{key}: missing" for key in sorted(set(fields) - set(value))]
    for key in set(value) & set(fields):
        errors += schema_errors(value[key], fields[key], f"{where}.{key}")
    return errors


@pytest.fixture(scope="module")
def report(speech_10s) -> dict:
    """A real jitter buffer's report after 3 s of speech with every 7th packet lost."""
    playback = make_playback()
    packets = rtp(encode(speech_10s[:3 * 48000], fec=True, expected_loss=15))
    for k, packet in enumerate(packets):
        if k % 7 != 3:
            playback.insert(packet)
        playback.pull(packet.arrival)
    return playback.report()


@pytest.mark.parametrize("settings", [None, Settings(bitrate=32000, fec=True, dred_ms=200, expected_loss=10)])
@pytest.mark.parametrize("final", [False, True])
def test_stats_message_has_exactly_the_contract_fields(report, settings, final):
    message = statschannel.stats_message(
        report, final=final, elapsed=3.0, current_delay_ms=None if final else 42.0,
        receive_kbps=30.5, settings=settings, measured_send_kbps=31.0, decisions="NNLP",
        controller=[{"t": 1.0, "text": "x"}])
    assert report["frames"]["lost_network"] > 0 and message["w3c"]["packetsLost"] > 0
    assert schema_errors(message, STATS["message"]) == []
    assert message["type"] == STATS["type"] and message["version"] == STATS["version"]


def test_schema_check_can_fail(report):
    message = statschannel.stats_message(report, final=True, elapsed=1.0, current_delay_ms=1.0,
                                         receive_kbps=None, settings=None, measured_send_kbps=None)
    message["rebuilt_fraction"] = 0.5
    message["rebuild"]["by_source"] = {"dred": 1.5}
    del message["frames"]["late"]
    message["loss_percent"] = "3"
    assert sorted(schema_errors(message, STATS["message"])) == [
        "message.frames.late: missing", "message.loss_percent: '3' is not number",
        "message.rebuild.by_source: {'dred': 1.5} is not counts",
        "message.rebuilt_fraction: not in the contract"]


def _schema_paths(schema: dict, prefix: str = "") -> set[str]:
    paths = set()
    for key, value in schema.items():
        paths.add(prefix + key)
        if isinstance(value, dict):
            paths |= _schema_paths(value["fields"], f"{prefix}{key}.")
    return paths


def test_panel_shows_only_contract_fields():
    paths = _schema_paths(STATS["message"])
    for row in STATS["panel"]:
        assert set(row["show"]) <= paths, row
        template = row.get("template")
        assert template is None or template.count("{}") == len(row["show"]), row
        assert set(row.get("scale", {})) <= set(row["show"]), row


def test_every_decision_has_a_label_and_the_page_lists_none_by_hand():
    assert list(STATS["decision_labels"]) == list(STATS["decision_codes"])
    page = (WEB / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"<li class=\"(normal|red|lbrr|dred|plc)\"", page)


def test_python_side_uses_the_contract_names():
    assert control.bye()["type"] == CHANNELS["control"]["bye"]
    assert statschannel.DECISION_CODES == STATS["decision_codes"]
    assert set(protocol.RELAYED_TYPES) <= set(SIGNALING["server_types"])
    assert ROOM_PATTERN.match("Tzcixc-2_KJOj7NnMQ-47g") and not ROOM_PATTERN.match("a b")
    assert not ROOM_PATTERN.match("x" * 65) and not ROOM_PATTERN.match("")


def _web_modules() -> dict[str, str]:
    return {item.name: item.read_text(encoding="utf-8") for item in WEB.iterdir() if item.name.endswith(".js")}


def test_web_modules_copy_no_contract_constant():
    stats, control_channel = CHANNELS["stats"], CHANNELS["control"]
    copies = [re.escape(f"'{stats['label']}'"), re.escape(f"'{STATS['ack']}'"), re.escape(f"'{control_channel['label']}'"),
              rf"\bid: *{stats['id']}\b", rf"\bid: *{control_channel['id']}\b", r"A-Za-z0-9", r"/ws['`]",
              r"\b(N|L|D|P): *'(normal|lbrr|dred|plc)'"]
    for name, source in _web_modules().items():
        for copy in copies:
            assert not re.search(copy, source), f"web/{name} copies {copy} from contract.json"


def test_web_modules_use_contract_message_types():
    known = set(SIGNALING["client_types"]) | set(SIGNALING["server_types"])
    modules = _web_modules()
    sent = {t for source in modules.values() for t in re.findall(r"\btype: '([\w-]+)'", source)}
    assert sent and sent <= known, sent - known
    handlers = re.search(r"const handlers = \{(.*?)\n\};", modules["session.js"], re.S).group(1)
    handled = set(re.findall(r"^\s*'?([\w-]+)'?:", handlers, re.M))
    assert handled == set(SIGNALING["server_types"])
