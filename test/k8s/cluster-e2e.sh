#!/usr/bin/env bash
# `npm run test:cluster`: Portico where users run it, on this machine. Builds what is missing
# (cluster.sh build: node binaries, the image from the repo's Dockerfile), starts a one-node cluster
# in its own network namespace, installs the chart as a user would (image, CRDs, ServiceAccount,
# RBAC, Lease), runs the e2e suites through the node's ports, and stops everything it started, also
# when a step fails (after printing pods, events, logs and `kubectl get all -A`).
#
# Environment: PORTICO_K8S_KEEP=1 leaves the cluster running (its env file is printed) for debugging.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CLUSTER="$ROOT/test/k8s/cluster.sh"
# shellcheck disable=SC2034  # e2e_run_suites (chart-e2e.sh) runs the suites with it
NODE="$ROOT/node_modules/.bin/node"
# shellcheck source=../e2e/chart-e2e.sh
. "$ROOT/test/e2e/chart-e2e.sh"

t0=$SECONDS
bash "$CLUSTER" build
t_build=$((SECONDS - t0))

STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/portico-cluster.XXXXXX")
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ $rc -ne 0 ] && [ -f "$STATE_DIR/env" ]; then e2e_diagnostics; fi
  if [ "${PORTICO_K8S_KEEP:-}" = 1 ]; then
    e2e_log "keeping the cluster: . $STATE_DIR/env; stop it with: $CLUSTER stop --state-dir $STATE_DIR"
  else
    bash "$CLUSTER" stop --state-dir "$STATE_DIR" || true
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bash "$CLUSTER" start --state-dir "$STATE_DIR" > /dev/null
# shellcheck disable=SC1091
. "$STATE_DIR/env"
t_start=$((SECONDS - t0 - t_build))

e2e_install_chart portico e2e
PROXY="http://$PORTICO_NODE_ADDRESS"
e2e_wait_proxy "$PROXY"
t_install=$((SECONDS - t0 - t_build - t_start))

PORTICO_E2E_PROXY="$PROXY" PORTICO_E2E_ECHO_IMAGE=portico:e2e \
  PORTICO_E2E_ADMIN="http://$PORTICO_NODE_ADDRESS:9901" \
  PORTICO_E2E_NODE_CPUS="$(nsenter "--net=/run/netns/$PORTICO_NODE_NETNS" nproc)" \
  PORTICO_E2E_NODE_LOCAL=1 PORTICO_E2E_TIMEOUT_MS=60000 e2e_run_suites
t_suites=$((SECONDS - t0 - t_build - t_start - t_install))
e2e_log "test:cluster passed in $((SECONDS - t0))s (build ${t_build}s, cluster ${t_start}s, chart ${t_install}s, suites ${t_suites}s)"
