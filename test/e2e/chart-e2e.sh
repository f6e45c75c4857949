# shellcheck shell=bash
# The e2e flow on a cluster with nodes, once the image is on them: install the chart, wait for the
# DaemonSet and the proxy, run the suites, print diagnostics on failure. Sourced by test/e2e/kind.sh
# (kind, in users' CI) and test/k8s/cluster-e2e.sh (the node this machine runs).
#
# Needs kubectl and helm on PATH, KUBECONFIG, ROOT (the repo) and NODE (a node >= 24).

E2E_RELEASE=portico
E2E_NAMESPACE=portico-system

e2e_log() { printf '==> %s\n' "$*" >&2; }

# e2e_install_chart IMAGE_REPOSITORY IMAGE_TAG [helm args...]
e2e_install_chart() {
  local repository="$1" tag="$2"; shift 2
  e2e_log "installing the chart (image $repository:$tag)"
  helm install "$E2E_RELEASE" "$ROOT/charts/portico" \
    --namespace "$E2E_NAMESPACE" --create-namespace \
    --set image.repository="$repository" \
    --set image.tag="$tag" \
    --set image.pullPolicy=Never \
    --set gracePeriodSeconds=5 \
    "$@"
  e2e_log "waiting for the DaemonSet"
  kubectl -n "$E2E_NAMESPACE" rollout status "daemonset/$E2E_RELEASE" --timeout=180s
  # A JSONPath wait: a condition wait fails at once on a CRD without conditions yet (kubernetes#66439).
  kubectl wait --for='jsonpath={.status.conditions[?(@.type=="Established")].status}=True' --timeout=60s \
    crd/routes.portico.dev crd/backends.portico.dev
}

# e2e_wait_proxy URL: any HTTP answer (a 404 for an unknown host) means the listener is reachable.
e2e_wait_proxy() {
  local deadline=$((SECONDS + 60))
  e2e_log "waiting for $1"
  until curl -s -o /dev/null -H 'Host: readiness.e2e.test' "$1/"; do
    ((SECONDS < deadline)) || { e2e_log "$1 does not answer"; return 1; }
    sleep 1
  done
}

# e2e_run_suites: the Route/Backend suite, then the deployment suite (security context, RBAC,
# rollouts under load), with PORTICO_E2E_* from the caller's environment.
e2e_run_suites() {
  e2e_log "running the e2e suites (origins: Deployments + Services, image $PORTICO_E2E_ECHO_IMAGE)"
  (cd "$ROOT" && PORTICO_E2E_ORIGIN=kind KUBECTL="$(command -v kubectl)" HELM="$(command -v helm)" \
    PORTICO_E2E_RELEASE="$E2E_RELEASE" PORTICO_E2E_NAMESPACE="$E2E_NAMESPACE" \
    "$NODE" --test --test-concurrency=1 test/e2e/cluster.e2e.ts test/e2e/deployment.e2e.ts)
}

e2e_diagnostics() {
  e2e_log "diagnostics"
  kubectl get nodes -o wide || true
  kubectl get all -A -o wide || true
  kubectl get routes,backends -A || true
  kubectl get events -A --sort-by=.lastTimestamp | tail -n 60 || true
  local pod
  for pod in $(kubectl -n "$E2E_NAMESPACE" get pods -o name 2>/dev/null); do
    e2e_log "$pod"
    kubectl -n "$E2E_NAMESPACE" logs "$pod" --tail=200 || true
  done
}
