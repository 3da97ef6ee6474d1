# dred-rtc image: built exactly as a fresh Debian machine is, with `make setup` (system packages,
# libopus 1.6.1 with DRED from its checksum-verified release archive, the .venv, real speech).
#   docker build -t dred-rtc .        then e.g.   docker run --rm dred-rtc doctor
FROM debian:bookworm-slim

ENV DEBIAN_FRONTEND=noninteractive \
    DRED_RTC_CACHE=/opt/dred-rtc-cache \
    PYTHONUNBUFFERED=1

# What `make setup` itself needs to start; everything else comes from scripts/system_deps.sh.
RUN apt-get update \
 && apt-get install -y --no-install-recommends make python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/dred-rtc
COPY . .
RUN make setup && rm -rf /var/lib/apt/lists/* /root/.cache/pip

ENV PATH=/opt/dred-rtc/.venv/bin:$PATH
ENTRYPOINT ["dred-rtc"]
CMD ["doctor"]
