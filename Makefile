# dred-rtc: `make demo` and `make test` run `make setup` first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup system-deps native venv speech demo test docker-check bench clean

setup: system-deps native venv speech

# Debian/Ubuntu packages: build tools for libopus, audio libraries, real speech, browser.
system-deps:
	@bash scripts/system_deps.sh

native:
	@bash native/build_opus.sh

# A venv whose pip does not run (python3-venv was missing when it was made: Debian's venv
# then stops before ensurepip and leaves a .venv without pip) is made anew, not reused.
$(STAMP): pyproject.toml
	@$(PY) -m pip --version >/dev/null 2>&1 || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

speech: venv
	@$(PY) -m dred_rtc.audio.speech
	@$(PY) -m dred_rtc.eval.corpus

demo: setup
	@$(VENV)/bin/dred-rtc demo

test: setup
	@$(PY) -m pytest -q -rs tests

# The image from a bare debian:bookworm-slim, `doctor` in it, and the compose call end to end
# (needs a running Docker engine; not part of `make test`: many minutes). See README.
docker-check: venv
	@$(PY) -m pytest -q -rs -s -m docker tests/docker

bench: setup
	@$(PY) -m dred_rtc.bench

clean:
	rm -rf $(VENV) .pytest_cache

# make setup, doctor and a short demo on a bare Debian 12 root (debootstrap minbase, chroot;
# needs root): proves a fresh machine sets itself up from a clean clone of HEAD.
.PHONY: fresh-check
fresh-check:
	@bash scripts/fresh_check.sh

# tc netem for real: a Debian 12 guest booting Debian's kernel (sch_netem) runs netem-demo,
# netem_link.sh and the compose sender's commands, with nfqueue on the same settings next to
# them (needs root; the guest image is cached in /var/cache/dred-rtc/netem-vm). See README.
.PHONY: netem-vm
netem-vm: setup
	@bash scripts/netem_vm.sh check out/netem-vm -- --compare --plcmos
