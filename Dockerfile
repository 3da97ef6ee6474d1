# dred-rtc image: built exactly as a fresh Debian machine is, with `make setup` (system packages,
# libopus 1.6.1 with DRED from its checksum-verified release archive, the .venv, real speech).
#   docker build -t dred-rtc .        then e.g.   docker run --rm dred-rtc doctor
# Where the package indexes are reached only through this machine's own apt/pip configuration
# (a mirror, a proxy CA) and no registry serves debian:bookworm-slim, run
# scripts/docker_prepare.sh first (and build with `--network host` where Docker's default
# network does not reach them; see README, "Containers").
FROM debian:bookworm-slim

ENV DEBIAN_FRONTEND=noninteractive \
    DRED_RTC_CACHE=/opt/dred-rtc-cache \
    PYTHONUNBUFFERED=1

# The build machine's apt/pip/CA configuration, if scripts/docker_prepare.sh put any in
# docker/host-config/ (empty in git: then the defaults are used). Removed again after setup.
COPY docker/host_config.sh docker/host-config/ /tmp/host-config/
RUN sh /tmp/host-config/host_config.sh install /tmp/host-config

# What `make setup` itself needs to start; everything else comes from scripts/system_deps.sh.
RUN apt-get update \
 && apt-get install -y --no-install-recommends make python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/dred-rtc
COPY . .
RUN make setup \
 && sh /tmp/host-config/host_config.sh remove /tmp/host-config \
 && find docker/host-config -mindepth 1 ! -name README.md ! -name .gitignore -exec rm -rf {} + \
 && rm -rf /tmp/host-config /var/lib/apt/lists/* /root/.cache/pip

ENV PATH=/opt/dred-rtc/.venv/bin:$PATH
ENTRYPOINT ["dred-rtc"]
CMD ["doctor"]
