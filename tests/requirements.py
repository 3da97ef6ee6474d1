"""One rule for tests that need a component: skip on a developer's machine, fail in CI.

`make setup` installs Chromium, Firefox ESR, PulseAudio, NetfilterQueue, libopus with DRED, the speech
corpus, iproute2 and the test tools, and CI runs as root (so it can make network namespaces).
A test that skipped there because one of these was missing would hide a broken feature behind a
green run (issue 13), so when the environment variable CI is set (CI runs with CI=true) a missing
component that setup provides is a failure carrying the reason. What depends on the host kernel
(sch_netem) or is not installed by setup (Docker, atheris) still skips, with its reason.

    require("chromium", chromium_unavailable())      # None: available, nothing happens
"""

from __future__ import annotations

import os
import shutil

import pytest

#: component -> what provides it; `make setup` installs (or CI, as root, has) each of these
SETUP_PROVIDES: dict[str, str] = {
    "chromium": "Debian chromium + the playwright Python package (make setup)",
    "firefox": "Debian firefox-esr + the marionette-driver Python package, PulseAudio (make setup)",
    "pulseaudio": "Debian pulseaudio, pulseaudio-utils, libasound2-plugins (make setup)",
    "nfqueue": "Python NetfilterQueue + Debian iptables, libnetfilter-queue-dev (make setup)",
    "netns": "root (CI runs as root) and iproute2 (make setup)",
    "iproute2": "Debian iproute2 (make setup)",
    "libopus-dred": "libopus 1.6.1 with DRED built by native/build_opus.sh (make setup)",
    "speech": "Debian asterisk-core-sounds-*-g722, prepared by make setup",
    "check-jsonschema": "the test extra of pyproject.toml (make setup)",
    "coturn": "Debian coturn, the STUN/TURN server of the NAT test bed (make setup)",
    "distribution-libopus": "Debian libopus0, a dependency of chromium (make setup)",
}
#: component -> why a test may skip on it even in CI
HOST_DEPENDENT: dict[str, str] = {
    "sch_netem": "the host kernel's netem qdisc (no module on some kernels)",
    "docker": "a running Docker engine (not installed by make setup; `make docker-check`)",
    "atheris": "optional fuzzer (`.venv/bin/pip install atheris`)",
    "netfilter-nat": "the host kernel's iptables nat table, MASQUERADE --random-fully and conntrack",
    "kernel-config": "the host kernel's /proc/config.gz",
    "vm-speed": "KVM or user-mode Linux for the netem guest (scripts/netem_vm.sh accel)",
}


def in_ci() -> bool:
    """True when the CI variable is set to anything but an explicit no."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(component: str, reason: str | None) -> None:
    """Nothing when `reason` is None; else skip, or -- in CI, for a component `make setup`
    provides -- fail with the reason. Usable in tests, fixtures and at module level."""
    if component not in SETUP_PROVIDES and component not in HOST_DEPENDENT:
        raise ValueError(f"unknown component {component!r}: add it to tests/requirements.py")
    if reason is None:
        return
    if component in SETUP_PROVIDES and in_ci():
        pytest.fail(f"{component} missing in CI ({SETUP_PROVIDES[component]}): {reason}",
                    pytrace=False)
    pytest.skip(f"{component}: {reason}", allow_module_level=True)


def netns_unavailable() -> str | None:
    """Why this process cannot make network namespaces (None: it can)."""
    if os.geteuid() != 0:
        return "needs root: creates network namespaces and iptables rules (CAP_NET_ADMIN/SYS_ADMIN)"
    for tool in ("ip", "unshare"):
        if shutil.which(tool) is None:
            return f"the `{tool}` command is not installed (Debian iproute2, util-linux)"
    return None


def dred_unavailable() -> str | None:
    """Why the loaded libopus cannot do DRED (None: it can)."""
    from dred_rtc.opus import OpusLibraryNotFound, capabilities
    try:
        caps = capabilities()
    except OpusLibraryNotFound as error:
        return str(error)
    return None if caps.dred else f"{caps.version} at {caps.path} has no DRED: run `make setup`"
