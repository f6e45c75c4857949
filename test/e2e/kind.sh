#!/usr/bin/env bash
# The e2e suite against a real cluster: kind + the Helm chart + the image built from this tree.
# For CI machines with Docker (it cannot run inside the test sandbox, which has no container runtime).
#
#   test/e2e/kind.sh            # create cluster, build, load, install, test, delete cluster
#
# Steps: a one-node kind cluster whose node port PORTICO_E2E_NODE_PORT (default 80, the chart's
# listener) is mapped to 127.0.0.1:PORTICO_E2E_HOST_PORT (default 18080) on this machine → docker
# build -t portico:e2e . → kind load docker-image → then test/e2e/chart-e2e.sh, as on the node
# test/k8s/cluster-e2e.sh runs: helm install charts/portico with that image (pullPolicy Never) → wait
# for the DaemonSet → run test/e2e/cluster.e2e.ts and deployment.e2e.ts with PORTICO_E2E_ORIGIN=kind
# (echo Deployments + Services, Backends with `service:`) and PORTICO_E2E_PROXY=http://127.0.0.1:HOST_PORT
# → on failure, print pods, events and Portico's log → delete the cluster (always, unless
# PORTICO_E2E_KEEP=1). The admin port is not mapped, so the worker-count and rollout test is skipped.
#
# Needs: docker, kind, helm (v3.8+ or v4), kubectl, curl, node >= 24 (or `npm ci` for the pinned node).
# Environment: PORTICO_E2E_CLUSTER (kind cluster name, default portico-e2e), PORTICO_E2E_HOST_PORT,
# PORTICO_E2E_NODE_PORT, PORTICO_E2E_KEEP, KIND_NODE_IMAGE (e.g. kindest/node:v1.33.1),
# PORTICO_E2E_TIMEOUT_MS (per wait in the suite).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CLUSTER=${PORTICO_E2E_CLUSTER:-portico-e2e}
HOST_PORT=${PORTICO_E2E_HOST_PORT:-18080}
NODE_PORT=${PORTICO_E2E_NODE_PORT:-80}
KEEP=${PORTICO_E2E_KEEP:-0}
IMAGE_REPOSITORY=portico
IMAGE_TAG=e2e
IMAGE="$IMAGE_REPOSITORY:$IMAGE_TAG"
# shellcheck source=chart-e2e.sh
. "$ROOT/test/e2e/chart-e2e.sh"

die() {
  printf 'kind.sh: %s\n' "$*" >&2
  exit 1
}

for tool in docker kind helm kubectl curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not on PATH"
done

# Node 24 runs the suite's TypeScript directly; fall back to the pinned devDependency.
NODE=node
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 24 ? 0 : 1)' 2>/dev/null; then
  NODE="$ROOT/node_modules/.bin/node"
  [[ -x "$NODE" ]] || die "node >= 24 is needed (or run npm ci for the pinned one)"
fi

WORK=$(mktemp -d)
export KUBECONFIG="$WORK/kubeconfig"
CREATED=0

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ $rc -ne 0 && $CREATED -eq 1 ]]; then e2e_diagnostics; fi
  if [[ $CREATED -eq 1 ]]; then
    if [[ $KEEP == 1 ]]; then
      e2e_log "keeping cluster $CLUSTER (KUBECONFIG=$KUBECONFIG); delete it with: kind delete cluster --name $CLUSTER"
    else
      e2e_log "deleting cluster $CLUSTER"
      kind delete cluster --name "$CLUSTER" || true
      rm -rf "$WORK"
    fi
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  die "a kind cluster named $CLUSTER already exists; delete it or set PORTICO_E2E_CLUSTER"
fi

# Portico runs with hostNetwork and binds NODE_PORT on the node (the kind container); the
# port mapping publishes it on this machine's loopback only.
cat >"$WORK/kind.yaml" <<EOF
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
    extraPortMappings:
      - containerPort: $NODE_PORT
        hostPort: $HOST_PORT
        listenAddress: 127.0.0.1
        protocol: TCP
EOF

e2e_log "creating kind cluster $CLUSTER"
CREATED=1
kind_args=(create cluster --name "$CLUSTER" --config "$WORK/kind.yaml" --kubeconfig "$KUBECONFIG" --wait 180s)
if [[ -n ${KIND_NODE_IMAGE:-} ]]; then kind_args+=(--image "$KIND_NODE_IMAGE"); fi
kind "${kind_args[@]}"

e2e_log "building $IMAGE"
docker build -t "$IMAGE" "$ROOT"
e2e_log "loading $IMAGE into the cluster"
kind load docker-image "$IMAGE" --name "$CLUSTER"

# The chart's CRDs (charts/portico/crds/) are installed by helm install. One worker keeps the
# single-node cluster light; the listener is the chart's, on NODE_PORT.
e2e_install_chart "$IMAGE_REPOSITORY" "$IMAGE_TAG" \
  --set workers=1 \
  --set 'listeners[0].name=http' \
  --set 'listeners[0].address=0.0.0.0' \
  --set "listeners[0].port=$NODE_PORT"
PROXY="http://127.0.0.1:$HOST_PORT"
e2e_wait_proxy "$PROXY"
PORTICO_E2E_PROXY="$PROXY" PORTICO_E2E_ECHO_IMAGE="$IMAGE" \
  PORTICO_E2E_TIMEOUT_MS="${PORTICO_E2E_TIMEOUT_MS:-60000}" e2e_run_suites
e2e_log "e2e passed"
