"""NAT test bed fixtures: root, the kernel's NAT support and coturn, or a skip with the reason
(a failure in CI for what `make setup` installs, tests/requirements.py)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from dred_rtc.netem.namespaces import list_namespaces
from tests.requirements import dred_unavailable, require

from .coturn import coturn_unavailable
from .testbed import PREFIX, nat_support, remove_leftovers


@pytest.fixture(scope="session")
def nat_bed_ok(root_netns) -> None:
    require("libopus-dred", dred_unavailable())
    require("coturn", coturn_unavailable())
    require("netfilter-nat", nat_support())
    remove_leftovers()   # from an earlier run that was killed before its own teardown


@pytest.fixture(scope="module")
def nat_workdir():
    """A private directory (pytest's numbered tmp dirs may be pruned by a concurrent run);
    DRED_RTC_NAT_KEEP=1 keeps it (logs, WAVs, stats) for inspection."""
    path = Path(tempfile.mkdtemp(prefix="dred-rtc-nat-"))
    yield path
    if os.environ.get("DRED_RTC_NAT_KEEP"):
        print(f"\nkept {path}")
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module", autouse=True)
def no_namespaces_left():
    """Every test bed this process made is gone afterwards."""
    yield
    left = [n for n in list_namespaces() if n.startswith(f"{PREFIX}{os.getpid()}-")]
    assert not left, f"test-bed namespaces left behind: {left}"
