# syntax=docker/dockerfile:1
# kafka-quota-proxy: a build stage compiles the TypeScript; the runtime stage holds dist/ and the production
# dependencies only, runs as the base image's non-root `node` user (uid 1000) and reads a mounted config file:
#
#   docker build -t kafka-quota-proxy .
#   docker run -v "$PWD/proxy.yaml:/etc/kafka-quota-proxy/proxy.yaml:ro" -p 9092:9092 -p 9644:9644 kafka-quota-proxy
#
# test/docker/dockerfile.test.ts runs these steps without Docker and starts the result against a real Kafka cluster.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim AS runtime
# KQP_HEALTHCHECK_URL: where HEALTHCHECK asks; change it with the config's metrics port.
ENV NODE_ENV=production \
    KQP_HEALTHCHECK_URL=http://127.0.0.1:9644/healthz
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund
COPY --from=build /app/dist ./dist
# Everything above is owned by root and only readable by the proxy.
USER node
# Kafka clients; /metrics, /healthz and /readyz (the config's listen and metrics addresses).
EXPOSE 9092 9644
# /healthz: the process serves (readiness, /readyz, depends on the broker and is left to the orchestrator).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "require('node:http').get(process.env.KQP_HEALTHCHECK_URL, (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1)).setTimeout(2000, () => process.exit(1))"]
# --single-threaded-gc: V8 collects on the main thread. A sidecar is given a core or less, shared with the broker's
# JVM; V8's parallel collector helpers then made it burn twice the CPU per GB relayed (bench/RESULTS.md, peers).
ENTRYPOINT ["node", "--single-threaded-gc", "dist/cli.js"]
CMD ["--config", "/etc/kafka-quota-proxy/proxy.yaml"]
