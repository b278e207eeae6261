# syntax=docker/dockerfile:1
# Chainfeed: one image for every role; the subcommand picks it.
#   docker build -t chainfeed .
#   docker run --rm chainfeed migrate --database-url postgresql://…
#   docker run -p 8081:8081 chainfeed ingest --node http://node:9999 --database-url … --redis-url …
#   docker run -p 8080:8080 chainfeed serve --read-database-url 'postgresql://… zone=a' --redis-url …
#   docker run -p 9999:9999 chainfeed simulate-node
# Every flag also reads a CHAINFEED_* environment variable (see README.md), which is how
# docker-compose.yml and k8s/ configure it.

# The toolchain matching the one the project is developed and tested with (Package.swift needs >= 6.1).
ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---- build ------------------------------------------------------------------------------------
FROM ${SWIFT_IMAGE} AS build
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends libpq-dev libhiredis-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first: this layer is reused while only Sources/ changes.
COPY Package.swift Package.resolved* ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
# The Swift runtime and Foundation linked statically: the runtime image needs no Swift at all,
# only the C libraries (libpq, hiredis) the binary is linked against.
RUN swift build -c release --product chainfeed --static-swift-stdlib \
 && mkdir -p /out \
 && cp "$(swift build -c release --show-bin-path)/chainfeed" /out/chainfeed \
 && strip /out/chainfeed

# ---- runtime ----------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends libpq5 libhiredis0.14 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 chainfeed \
 && useradd --system --uid 10001 --gid chainfeed --home-dir /nonexistent --shell /usr/sbin/nologin chainfeed
COPY --from=build /out/chainfeed /usr/local/bin/chainfeed
USER 10001:10001
# Listen on all interfaces inside the container; each role's port is set by CHAINFEED_PORT or --port.
ENV CHAINFEED_HOST=0.0.0.0 \
    CHAINFEED_PORT=8080 \
    CHAINFEED_LOG_LEVEL=info
EXPOSE 8080
# /health answers on the serve and ingest ports (the simulator has only /status: compose and k8s
# override the check for it; migrate exits before the check matters).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS --max-time 2 "http://127.0.0.1:${CHAINFEED_PORT:-8080}/health" || exit 1
# SIGTERM drains (WebSocket/SSE clients get a close) and exits 0 within 10 s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["chainfeed"]
CMD ["serve"]
