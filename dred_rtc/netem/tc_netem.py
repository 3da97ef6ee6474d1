"""The `netem` backend: Linux's own network emulator, `tc qdisc ... netem`.

    params = LinkParams.parse(loss="gilbert:0.05,0.2", delay_ms=40, jitter_ms=10, rate_kbit=256)
    netem_args(params)  # ['delay', '40ms', '10ms', 'distribution', 'normal', 'loss', 'gemodel', ...]
    qdisc_commands("veth-a", params, ns="dredrtc-1-a")   # prio root, netem for UDP, u32 filter

How our specs map onto netem (per UDP packet, on the interface's egress; qdisc_commands):
- delay D, jitter J (ms): `delay Dms Jms distribution normal` -- Normal(D, J) per packet, like
  the `normal:D,J` model of `--impair`; independent draws reorder packets, as netem does.
  (tc refuses a distribution with zero delay, so jitter without delay becomes `delay 1us`.)
- `bernoulli:P`: `loss random P%`.
- `gilbert:P,R`: `loss gemodel P% R% 100% 0%` -- netem's Gilbert-Elliott with every packet of the
  bad state lost (1-h = 100 %) and none of the good state (1-k = 0 %), i.e. our two-state model.
- rate K (kbit/s): `rate Kkbit`: serialisation at the link rate.
- `lossgen:P` and `trace:FILE` have no netem equivalent: use the nfqueue backend.

`netem_support()` asks the kernel itself: it adds a netem qdisc inside a throwaway namespace
(`unshare -n`, gone when the command exits) and reports the kernel's answer.
"""

from __future__ import annotations

import gzip
import math
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..impair import ImpairSpecError, parse_loss_spec
from ..impair.loss import LossModel

#: netem's default queue limit is 1000 packets; kept explicit so both backends agree
DEFAULT_LIMIT = 1000


class NetemUnsupported(ValueError):
    """This impairment cannot be expressed with netem (the message says what to use instead)."""


@dataclass(frozen=True)
class LinkParams:
    """One direction of an impaired link, as the user asked for it."""

    loss: str = "none"          # a loss spec of dred_rtc.impair
    delay_ms: float = 0.0       # one-way delay added per packet
    jitter_ms: float = 0.0      # standard deviation of that delay
    rate_kbit: float | None = None
    limit: int = DEFAULT_LIMIT  # packets queued at most

    def __post_init__(self) -> None:
        for name in ("delay_ms", "jitter_ms"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ImpairSpecError(f"--{name.removesuffix('_ms')} must be a number of ms >= 0, "
                                      f"got {value:g}")
        if self.rate_kbit is not None and (not math.isfinite(self.rate_kbit) or self.rate_kbit <= 0):
            raise ImpairSpecError(f"--rate must be a positive number of kbit/s, got {self.rate_kbit:g}")
        if self.limit < 1:
            raise ImpairSpecError(f"queue limit must be >= 1 packet, got {self.limit}")

    def loss_model(self, seed: int | None = None) -> LossModel:
        return parse_loss_spec(self.loss, seed=seed)

    def describe(self) -> str:
        parts = [f"loss {self.loss}"]
        parts.append(f"delay {self.delay_ms:g} ms")
        parts.append(f"jitter {self.jitter_ms:g} ms")
        if self.rate_kbit:
            parts.append(f"rate {self.rate_kbit:g} kbit/s")
        return ", ".join(parts)


def _ms(value: float) -> str:
    return f"{value:.6g}ms"


def netem_loss_args(loss: LossModel) -> list[str]:
    """netem's words for a loss model (the model knows them); NetemUnsupported for models
    netem lacks."""
    args = loss.netem_args()
    if args is not None:
        return args
    raise NetemUnsupported(f"netem has no equivalent of {loss.spec!r} (lossgen and trace files "
                           f"exist only in dred-rtc's models): use --backend nfqueue")


def netem_args(params: LinkParams, seed: int | None = None) -> list[str]:
    """Everything after `netem` for one direction of the link."""
    args = ["limit", str(params.limit)]
    if params.delay_ms or params.jitter_ms:
        # tc refuses a distribution with zero latency; 1 us stands for "no fixed delay"
        args += ["delay", _ms(params.delay_ms) if params.delay_ms else "1us"]
        if params.jitter_ms:
            args += [_ms(params.jitter_ms), "distribution", "normal"]
    args += netem_loss_args(params.loss_model(seed))
    if params.rate_kbit:
        args += ["rate", f"{params.rate_kbit:.6g}kbit"]
    return args


def qdisc_commands(dev: str, params: LinkParams, ns: str | None = None,
                   seed: int | None = None) -> list[list[str]]:
    """The `tc` commands that impair the UDP `dev` sends (inside namespace `ns` when given).

    UDP only, as the nfqueue backend: a `prio` root whose priomap sends everything to its first
    band, netem on the second band, and a u32 filter that puts UDP there. The calls' signaling
    (WebSocket over TCP) then passes unimpaired, as with nfqueue: with every packet impaired,
    a WebSocket join failed at gilbert 0.1,0.4 (measured in the netem VM, make netem-vm)."""
    tc = ["tc", "-n", ns] if ns else ["tc"]
    return [
        [*tc, "qdisc", "replace", "dev", dev, "root", "handle", "1:", "prio", "bands", "2",
         "priomap", *["0"] * 16],
        [*tc, "qdisc", "add", "dev", dev, "parent", "1:2", "handle", "2:", "netem",
         *netem_args(params, seed)],
        [*tc, "filter", "add", "dev", dev, "parent", "1:", "protocol", "ip", "prio", "1", "u32",
         "match", "ip", "protocol", "17", "0xff", "flowid", "1:2"],
    ]


def netem_counters(shown: str) -> tuple[int, int] | None:
    """(packets sent, packets dropped) of the netem qdisc in `tc -s qdisc show` output."""
    match = re.search(r"qdisc netem [^\n]*\n\s*Sent \d+ bytes (\d+) pkt \(dropped (\d+)", shown)
    return (int(match.group(1)), int(match.group(2))) if match else None


def teardown_commands(dev: str, ns: str | None = None) -> list[list[str]]:
    """The `tc` command that removes the netem qdisc from `dev` (back to the default qdisc)."""
    tc = ["tc", "-n", ns] if ns else ["tc"]
    return [[*tc, "qdisc", "del", "dev", dev, "root"]]


def kernel_config_says() -> str | None:
    """What /proc/config.gz says about CONFIG_NET_SCH_NETEM (None when it is not readable)."""
    path = Path("/proc/config.gz")
    try:
        with gzip.open(path, "rt") as config:
            for line in config:
                if "CONFIG_NET_SCH_NETEM" in line and not line.startswith("CONFIG_NET_SCH_NETEM_"):
                    return line.strip()
    except OSError:
        return None
    return "CONFIG_NET_SCH_NETEM absent from /proc/config.gz"


@dataclass(frozen=True)
class Support:
    ok: bool
    reason: str


def netem_support() -> Support:
    """Whether this kernel runs netem, with the kernel's own reason when it does not."""
    if os.geteuid() != 0:
        return Support(False, "not root: adding a qdisc needs CAP_NET_ADMIN")
    for tool in ("tc", "unshare"):
        if shutil.which(tool) is None:
            return Support(False, f"`{tool}` is not installed (Debian packages iproute2, util-linux)")
    argv = ["unshare", "--net", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return Support(False, "`tc qdisc add ... netem` did not answer within 20 s")
    if done.returncode == 0:
        return Support(True, "the kernel accepted a netem qdisc (sch_netem present)")
    answer = " ".join((done.stderr or done.stdout).split()) or f"exit code {done.returncode}"
    config = kernel_config_says()
    reason = f"the kernel refused a netem qdisc: {answer!r}"
    if config:
        reason += f" ({config})"
    return Support(False, reason)
