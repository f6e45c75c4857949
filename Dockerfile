# syntax=docker/dockerfile:1
#
# Portico container image: `portico controller` by default.
#
#   docker build -t ghcr.io/portico-dev/portico:0.1.0 .
#
# A build stage bundles src/ into dist/ with esbuild (`npm run build`); the runtime runs plain
# JavaScript: Node 24 could strip types itself, but its stripper costs ~17 MB in every worker
# process, and one module per file another ~7 MB. Only production dependencies are installed in
# the runtime stage.
#
# Binding 80/443 as a non-root user: the runtime stage gives the node binary one file
# capability, cap_net_bind_service (setcap). The process then runs as uid 65532 and can bind
# ports below 1024, and nothing else. Two things must hold in Kubernetes (the Helm chart does both):
#   - NET_BIND_SERVICE stays in the container's bounding set (capabilities: drop [ALL],
#     add [NET_BIND_SERVICE]); and
#   - allowPrivilegeEscalation is true, because no_new_privs (what allowPrivilegeEscalation: false
#     sets) makes the kernel ignore file capabilities on exec.
# If every listener uses a port >= 1024, neither is needed. The alternative, running as uid 0 with
# every capability but NET_BIND_SERVICE dropped, works too but gives up runAsNonRoot.
# Under file capabilities the kernel sets AT_SECURE, so Node ignores NODE_OPTIONS and the
# like: pass Node flags on the command line instead.
#
# Read-only root filesystem: Portico writes nothing to disk; logs are JSON on stdout.

# The Node inside the image must be exactly the one CI tests: package-lock.json's `node` package
# (the devDependency that tests run on). src/read-in-place.ts relies on Node internals and is gated on
# the release line it was verified on, so a floating tag (node:24-slim) could ship a Node nobody tested.
# test/unit/core/node-pin.test.ts fails when this tag and package-lock.json disagree. Without a registry,
# test/k8s/images.sh builds this same Dockerfile with buildah from a local base of that exact Node
# (debootstrap'd bookworm + node + npm, laid out like node:<ver>-slim):
#   buildah bud --layers --network host --build-arg NODE_IMAGE=localhost/portico-node-base:24.21.0 -t portico:e2e .
ARG NODE_IMAGE=node:24.21.0-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
# libcap2-bin only for setcap; it is removed again in the same layer.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcap2-bin \
 && setcap cap_net_bind_service=+ep "$(readlink -f "$(command -v node)")" \
 && apt-get purge -y --auto-remove libcap2-bin \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /app/dist ./dist
COPY crds ./crds
# 65532 is the conventional "nonroot" uid/gid (as in distroless); numeric so runAsNonRoot can check it.
USER 65532:65532
EXPOSE 80 443 9901
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["controller"]
