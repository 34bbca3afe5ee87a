# syntax=docker/dockerfile:1
#
# paybridge's container image: built with the pinned Rust toolchain, run on a slim Debian (the
# same release as the build image, so the same glibc) as an unprivileged user.
#
#   docker build -t paybridge .
#   docker compose up          # the proxy, both sandboxes and Redis: see docker-compose.yml
#
# The image's default configuration is config/paybridge.toml (proxy plus embedded sandboxes, all
# on 127.0.0.1 inside the container). To reach it from the host, make the proxy listen on every
# interface:
#   docker run --rm -p 127.0.0.1:8080:8080 -e PAYBRIDGE_SERVER__LISTEN=0.0.0.0:8080 paybridge
# In production mount your own configuration over /etc/paybridge/ (readable by uid 10001) and
# give secrets as { env = "VAR" } or { file = "/run/secrets/NAME" } (docs/configuration.md).

ARG RUST_VERSION=1.95

# ---- build ------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
# The whole crate (less what .dockerignore leaves out): Cargo checks that every target the
# manifest declares ([[bin]], [[bench]], ...) has its source, even when building one binary.
COPY . .
# --locked: exactly the dependency versions of Cargo.lock, or fail. The registry and target
# caches persist between builds (BuildKit); the binary is copied out of the cached target dir.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin paybridge \
 && install -D -m 0755 target/release/paybridge /out/paybridge

# ---- runtime ----------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# ca-certificates: the system roots that HTTPS upstreams are verified against (ca_file adds more).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 paybridge \
 && useradd --system --uid 10001 --gid paybridge --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin paybridge \
 && mkdir -p /var/lib/paybridge \
 && chown 10001:10001 /var/lib/paybridge
COPY --from=build /out/paybridge /usr/local/bin/paybridge
# Owner-only: it holds the demo's inline secrets (paybridge warns about a configuration with
# inline secrets that others can read).
COPY --chown=10001:10001 --chmod=0400 config/paybridge.toml /etc/paybridge/paybridge.toml
# Read by every subcommand that takes --config; a --config on the command line wins.
# NO_COLOR: plain text logs (no terminal escapes) for `docker logs`; [log] format = "json" for JSON.
ENV PAYBRIDGE_CONFIG=/etc/paybridge/paybridge.toml \
    NO_COLOR=1
USER 10001:10001
# The order store's default file (sqlite://data/paybridge.sqlite) is relative to here: mount a
# volume on /var/lib/paybridge to keep orders across containers.
WORKDIR /var/lib/paybridge
# 8080: the proxy (merchants). 9100: the admin listener, when [admin] listen is set (keep private).
EXPOSE 8080 9100
# The image has no curl: bash's /dev/tcp checks that the proxy accepts connections on 8080.
# A configuration listening elsewhere overrides this (docker run --health-cmd, compose healthcheck).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080"]
# paybridge handles SIGTERM itself (stops accepting, drains for up to 10 s): give `docker stop`
# more than that, e.g. --stop-timeout 15 (stop_grace_period in compose).
STOPSIGNAL SIGTERM
ENTRYPOINT ["paybridge"]
CMD ["serve"]
