# syntax=docker/dockerfile:1
# rostersync: multi-stage build on Node 24 LTS. The image needs DATABASE_URL (embedded PostgreSQL is a
# development convenience and is not installed here).
ARG NODE_IMAGE=node:24.11.1-bookworm-slim

# npm install rather than npm ci: the lockfile is written where the registry serves only linux-x64
# builds of platform packages, so npm ci would refuse it; npm install keeps the locked versions.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json prisma.config.ts ./
COPY prisma ./prisma
COPY src ./src
# The operator console (served at /console): its sources, the SDK it calls the API through, its bundler.
COPY console ./console
COPY sdk/src ./sdk/src
COPY scripts/build-console.ts ./scripts/build-console.ts
RUN npm run build

FROM ${NODE_IMAGE} AS production-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000
WORKDIR /app
COPY --from=production-deps --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node package.json ./
COPY --chown=node:node prisma/migrations ./prisma/migrations
# Without AUTH_* credentials the server generates a service key in /app/.data/service-key.
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node
EXPOSE 3000
# Shutdown (README "Shutdown"): on SIGTERM the server drains (readiness 503, Connection: close) for
# SHUTDOWN_DRAIN_MS, then closes within SHUTDOWN_TIMEOUT_MS; give `docker stop` (-t), compose's
# stop_grace_period or Kubernetes' terminationGracePeriodSeconds more than the two together.
STOPSIGNAL SIGTERM
# Readiness, not liveness: a draining instance reports unhealthy so that balancers stop sending to it.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/health/ready`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The memory budget (README "Memory"): V8's heap limits, as in npm start; request bodies are bounded by
# BODY_BYTES_IN_FLIGHT.
CMD ["node", "--enable-source-maps", "--max-old-space-size=128", "--max-semi-space-size=2", "--liftoff-only", "dist/src/server.js"]
