#!/usr/bin/env bash
# Smoke test for the test control plane: start it, exercise kubectl (CRD, custom object,
# server-side dry-run, core objects, RBAC) and helm (version, create, template, lint,
# install/uninstall), then stop it. Prints "N passed, N failed" and exits non-zero on failure.
#
#   test/k8s/smoke.sh                # uses an already-built cache (run control-plane.sh build first)
#   PORTICO_K8S_SMOKE_BUILD=1 test/k8s/smoke.sh   # build first if needed
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CP="$HERE/control-plane.sh"
PASS=0 FAIL=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/portico-k8s-smoke.XXXXXX")
STATE="$WORK/state"

ok() { PASS=$((PASS + 1)); echo "ok   - $1"; }
bad() {
  FAIL=$((FAIL + 1)); echo "FAIL - $1"
  if [ -n "${2:-}" ]; then printf '%s\n' "$2" | sed 's/^/       /'; fi
}
check() { # check NAME CMD...   (passes when CMD exits 0)
  local name="$1" out; shift
  if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "$out"; fi
}
check_fails() { # check_fails NAME CMD...  (passes when CMD exits non-zero)
  local name="$1" out; shift
  if out=$("$@" 2>&1); then bad "$name (unexpectedly succeeded)" "$out"; else ok "$name"; fi
}
check_eq() { # check_eq NAME WANT CMD...
  local name="$1" want="$2" out; shift 2
  out=$("$@" 2>&1)
  if [ "$out" = "$want" ]; then ok "$name"; else bad "$name (want '$want', got '$out')"; fi
}

cleanup() {
  [ -f "$STATE/.portico-k8s-state" ] && "$CP" stop --state-dir "$STATE" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ -n "${PORTICO_K8S_SMOKE_BUILD:-}" ]; then "$CP" build || exit 1; fi

t0=$SECONDS
if ! "$CP" start --state-dir "$STATE" > "$WORK/start.out" 2> "$WORK/start.err"; then
  bad "control-plane start" "$(tail -n 30 "$WORK/start.err")"
  echo "$PASS passed, $FAIL failed"; exit 1
fi
ok "control-plane start ($((SECONDS - t0))s)"
# shellcheck disable=SC1091
. "$STATE/env"
check "env file exports KUBECONFIG" test -f "$KUBECONFIG"
check "status reports running" "$CP" status --state-dir "$STATE"

k() { kubectl "$@"; }
check "kubectl version (client+server)" k version
check_eq "server version" "$("$PORTICO_K8S_BIN/kubectl" version --client -o json | sed -n 's/.*"gitVersion": "\(.*\)".*/\1/p' | head -1)" \
  sh -c "kubectl version -o json | sed -n '/serverVersion/,\$p' | sed -n 's/.*\"gitVersion\": \"\\(.*\\)\".*/\\1/p'"
check "kubectl get ns" k get ns default kube-system kube-public
check_eq "auth can-i '*' '*'" yes k auth can-i '*' '*'
check_eq "auth whoami" admin k auth whoami -o jsonpath='{.status.userInfo.username}'

# --- CRD ---------------------------------------------------------------------------
cat > "$WORK/crd.yaml" <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wg]}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1, maximum: 10}
              color: {type: string, enum: [red, green, blue]}
EOF
widget() { # widget SIZE [COLOR]
  cat <<EOF
apiVersion: example.com/v1alpha1
kind: Widget
metadata: {name: w1, namespace: default}
spec: {size: $1, color: ${2:-red}}
EOF
}
check "apply CRD" k apply -f "$WORK/crd.yaml"
check "CRD established" k wait --for condition=established --timeout=60s crd/widgets.example.com
# discovery may lag a moment behind Established
for _ in $(seq 1 30); do k get widgets >/dev/null 2>&1 && break; sleep 0.5; done
check "create Widget" sh -c "$(declare -f widget); widget 3 | kubectl create -f -"
check_eq "get Widget" 3 k get widget w1 -o jsonpath='{.spec.size}'
check "get via shortname" k get wg w1
check "apply --dry-run=server (valid change)" sh -c "$(declare -f widget); widget 5 blue | kubectl apply --dry-run=server -f -"
check_eq "dry-run did not persist" 3 k get widget w1 -o jsonpath='{.spec.size}'
check_fails "apply --dry-run=server rejects invalid object" sh -c "$(declare -f widget); widget 99 purple | kubectl apply --dry-run=server -f -"
check "server-side apply" sh -c "$(declare -f widget); widget 4 green | kubectl apply --server-side --force-conflicts --field-manager=smoke -f -"
check_eq "SSA persisted" 4 k get widget w1 -o jsonpath='{.spec.size}'
check "patch status subresource" k patch widget w1 --subresource=status --type=merge -p '{"status":{"ready":true}}'
check "delete Widget" k delete widget w1 --wait=true --timeout=30s

# --- core / networking objects the ingress controller cares about --------------------
check "create namespace" k create ns smoke
check "create ConfigMap" k -n smoke create configmap cm --from-literal=a=b
check "create Secret (tls)" k -n smoke create secret generic tls --from-literal=tls.crt=x --from-literal=tls.key=y
check "create Service (ClusterIP allocated)" k -n smoke create service clusterip web --tcp=80:8080
check "create Pod (no ServiceAccount admission)" k -n smoke run web --image=example.invalid/web:1 --restart=Never --port=8080
cat > "$WORK/ingress.yaml" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: portico}
spec: {controller: example.com/portico}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: smoke}
spec:
  ingressClassName: portico
  rules:
  - host: web.example.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
EOF
check "apply IngressClass + Ingress" k apply -f "$WORK/ingress.yaml"
check "patch Ingress status" k -n smoke patch ingress web --subresource=status --type=merge \
  -p '{"status":{"loadBalancer":{"ingress":[{"ip":"127.0.0.1"}]}}}'
check "RBAC: create Role/RoleBinding" sh -c 'kubectl -n smoke create role r --verb=get,list --resource=ingresses.networking.k8s.io &&
  kubectl -n smoke create rolebinding rb --role=r --user=alice'
check_eq "RBAC: alice can list ingresses" yes k -n smoke auth can-i list ingresses --as=alice
check_eq "RBAC: alice cannot delete ingresses" no k -n smoke auth can-i delete ingresses --as=alice

# --- helm ----------------------------------------------------------------------------
check "helm version" helm version
check "helm create" helm create "$WORK/mychart"
check "helm lint" helm lint "$WORK/mychart"
check "helm template" sh -c "helm template demo '$WORK/mychart' > '$WORK/rendered.yaml' && grep -q 'kind: Deployment' '$WORK/rendered.yaml'"
check "helm install (against control plane)" helm install demo "$WORK/mychart" -n smoke
check "helm list" sh -c "helm list -n smoke | grep -q demo"
check "deployment created by helm" k -n smoke get deployment demo-mychart
check "helm uninstall" helm uninstall demo -n smoke

# --- stop --------------------------------------------------------------------------
check "control-plane stop" "$CP" stop --state-dir "$STATE"
check_fails "state dir removed" test -e "$STATE"
# a zombie counts as gone (an init that reaps orphans late, e.g. in some sandboxes, leaves them briefly)
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }
check_fails "apiserver process gone" alive "$PORTICO_K8S_APISERVER_PID"
check_fails "etcd process gone" alive "$PORTICO_K8S_ETCD_PID"

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
