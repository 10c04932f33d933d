# syntax=docker/dockerfile:1
# One image with the three Luister services (luister-ingest, luister-processor,
# luister-api); the container's command picks one. Built from the repository root:
#   docker build -t luister:latest .
# Validated offline by deploy/local/test.sh (hadolint).

FROM rust:1.95-bookworm AS build
# librdkafka is compiled from source by rdkafka-sys; it needs zlib's and OpenSSL's
# headers (TLS and SASL/SCRAM to the brokers).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends zlib1g-dev libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bins \
    && install -D -m 0755 -t /out \
        target/release/luister-ingest target/release/luister-processor target/release/luister-api

FROM debian:bookworm-slim
# curl for the health checks of docker compose; zlib and OpenSSL for librdkafka.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl zlib1g libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin luister
COPY --from=build /out/ /usr/local/bin/
COPY processor/taxonomy/default.toml /etc/luister/taxonomy.toml
USER 10001
# The services read LUISTER_CONFIG (a TOML file) and LUISTER_<SECTION>__<KEY> overrides.
ENV LUISTER_LOG__FORMAT=json
EXPOSE 8080 8081 9102
CMD ["luister-api"]
