"""A non-editable `pip install .` into a fresh venv serves the web client with `dred-rtc serve`.

The wheel is built from a copy of the working tree (what `pip install .` builds), then
installed with --no-deps --no-index; the fresh venv borrows this venv's dependencies through a
.pth path, which does not run this venv's editable-install hook, so dred_rtc and the page can
only come from the installed wheel. The server runs outside the repository.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.request
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "dred_rtc", "signaling_server")

pytestmark = pytest.mark.slow


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", *args], check=True, timeout=300,
                   capture_output=True, text=True)


def _copy_sources(target: Path) -> None:
    target.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, target / name, ignore=ignore)
        else:
            shutil.copy2(REPO / name, target / name)


def _install_fresh(tmp: Path) -> Path:
    """A fresh venv with dred-rtc installed from a wheel of the working tree; its bin folder."""
    source = tmp / "source"
    _copy_sources(source)
    _pip("wheel", "--no-deps", "-w", str(tmp / "wheel"), str(source))
    fresh = tmp / "fresh"
    venv.create(fresh, with_pip=False)
    python = fresh / "bin" / "python"
    _pip("--python", str(python), "install", "--no-deps", "--no-index",
         *map(str, (tmp / "wheel").glob("*.whl")))
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return fresh / "bin"


def _serve(bin_dir: Path, cwd: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([str(bin_dir / "dred-rtc"), "serve", "--port", "0"], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            return proc, match.group(1).rstrip(" (")
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"dred-rtc serve did not start: {proc.stdout.read()}")


def test_non_editable_install_serves_the_page(tmp_path):
    bin_dir = _install_fresh(tmp_path)
    where = subprocess.run([str(bin_dir / "python"), "-c",
                            "import dred_rtc, signaling_server; print(dred_rtc.__file__); "
                            "print(signaling_server.__file__)"],
                           cwd=tmp_path, check=True, capture_output=True, text=True).stdout.split()
    assert all(path.startswith(str(tmp_path / "fresh")) for path in where), where
    proc, url = _serve(bin_dir, tmp_path)
    try:
        page = urllib.request.urlopen(url + "/", timeout=10).read()
        script = urllib.request.urlopen(url + "/main.js", timeout=10).read()
        contract = urllib.request.urlopen(url + "/contract.json", timeout=10).read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    web = REPO / "signaling_server" / "web"
    assert page == (web / "index.html").read_bytes()
    assert script == (web / "main.js").read_bytes()
    assert contract == (web / "contract.json").read_bytes()
