# syntax=docker/dockerfile:1
# imagegate's container image: the same compiled server the tests run, without dev dependencies.
#
#   docker build -t localhost/imagegate:0.1.0 .
#
# Stage 1 runs the project's own build: `npm ci` installs from package-lock.json and its `prepare`
# script compiles the TypeScript (tsc) into dist/; `npm prune --omit=dev` then drops TypeScript and
# the type packages. Stage 2 copies only what `imagegate serve` needs and runs as a non-root user.
# For production, pin the base image by digest (node:20-bookworm-slim@sha256:...).
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY bin/ bin/
COPY config/ config/
COPY server/ server/
RUN npm ci --no-audit --no-fund \
 && npm prune --omit=dev --no-audit --no-fund \
 && test -f dist/server/main.js

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and not writable by the runtime user; the root filesystem is read-only anyway.
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules/ node_modules/
COPY --from=build /app/dist/server/ dist/server/
COPY --from=build /app/bin/ bin/
COPY --from=build /app/config/ config/
# Numeric, so that the kubelet can check runAsNonRoot (uid 1000 is the image's `node` user).
USER 1000:1000
EXPOSE 1323
# `serve` is part of the entrypoint, as kube-image-bouncer's image runs its server with the flags as
# arguments: a manifest that passes only `args: [--cert=..., --key=...]` keeps working when just the
# image is swapped. Other commands: --entrypoint node IMAGE /app/bin/imagegate check ..., or
# `kubectl exec ... -- node /app/bin/imagegate check ...`.
# Heap flags: server/cli/node-flags.ts says why (RSS under load), and keeps this line in step.
ENTRYPOINT ["node", "--max-semi-space-size=4", "--heap-growing-percent=30", "/app/bin/imagegate", "serve"]
