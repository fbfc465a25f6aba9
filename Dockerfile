# syntax=docker/dockerfile:1
#
# FastML Arena images, built from one multi-stage file:
#   docker build --target server -t fastml-arena/server .
#   docker build --target worker -t fastml-arena/worker .
# `server` runs `arena serve` (and `arena migrate`, `arena dataset import`, ...);
# `worker` adds the open-source FPGA tools a worker calls: Yosys (synthesis),
# Verilator and Icarus Verilog (co-simulation; Verilator needs a C++ compiler).
# The images carry no Python: the Python peers are for tests and benchmarks only.

ARG RUST_VERSION=1.95
ARG DEBIAN=bookworm

# --- build: the one binary, release profile, with the locked dependency tree ---
FROM rust:${RUST_VERSION}-${DEBIAN} AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --locked --release --bin arena \
 && install -m 0755 target/release/arena /usr/local/bin/arena

# --- server: arena + CA roots (S3 over TLS, OAuth) + curl for health checks ---
FROM debian:${DEBIAN}-slim AS server
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /var/lib/arena arena
COPY --from=build /usr/local/bin/arena /usr/local/bin/arena
USER arena
WORKDIR /var/lib/arena
# Listen on every interface inside the container; logs as JSON lines for collectors.
ENV ARENA_BIND=0.0.0.0:8080 \
    ARENA_DATA_DIR=/var/lib/arena \
    ARENA_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/readyz >/dev/null || exit 1
ENTRYPOINT ["arena"]
CMD ["serve"]

# --- worker: the server image plus Yosys, Verilator (with g++/make) and Icarus ---
FROM server AS worker
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends yosys verilator iverilog g++ make \
 && rm -rf /var/lib/apt/lists/*
USER arena
EXPOSE 9100
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:9100/healthz >/dev/null || exit 1
CMD ["worker", "--metrics-addr", "0.0.0.0:9100"]
