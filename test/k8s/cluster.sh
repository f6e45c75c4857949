#!/usr/bin/env bash
# A one-node Kubernetes cluster for the tests, in a network namespace of its own: etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, containerd (+ runc, bridge CNI), a
# kubelet whose Node registers Ready, and kube-proxy (iptables) for ClusterIPs. Built from the same k8s.io/kubernetes module as the control
# plane (control-plane.sh); images come from images.sh, never from a registry.
#
#   cluster.sh build                      node binaries, apt packages, images (idempotent)
#   cluster.sh start [--state-dir DIR]    start the cluster, import the images; prints env lines
#   cluster.sh stop  [--state-dir DIR]    stop everything it started, remove the namespace
#   cluster.sh status [--state-dir DIR]   the processes and the Node
#
# Network: the namespace $NETNS holds every process of the cluster and its pods. A veth pair joins it
# to this machine: $HOST_ADDR here, $NODE_ADDR (the Node's InternalIP) there. The apiserver serves
# on $NODE_ADDR:443, hostNetwork pods bind $NODE_ADDR's ports, and pod IPs ($POD_CIDR, on the
# bridge cni0) are routed through the veth. The namespace has no default route: nothing in it can
# reach any other address. See test/k8s/README.md.
#
# The apiserver listens on $NODE_ADDR:6443 (443 is Portico's HTTPS listener on the same node, as on
# any hostNetwork ingress node); pods reach it through the `kubernetes` Service, via kube-proxy.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=control-plane.sh
. "$HERE/control-plane.sh"

NETNS="${PORTICO_NODE_NETNS:-portico-node}"
HOST_IF=ptc-host
NODE_IF=ptc-node
HOST_ADDR=10.200.0.1
NODE_ADDR=10.200.0.2
POD_CIDR=10.201.0.0/24
POD_GATEWAY=10.201.0.1
SERVICE_CIDR=10.96.0.0/16
APISERVER_PORT=6443
NODE_NAME=portico-node
SANDBOX_IMAGE=localhost/portico-pause:1

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
in_netns() { nsenter "--net=/run/netns/$NETNS" -- "$@"; }

# ---- build -------------------------------------------------------------------
NODE_PACKAGES=(containerd:containerd runc:runc iptables:iptables nsenter:util-linux ip:iproute2
  findmnt:util-linux ps:procps buildah:buildah debootstrap:debootstrap)

cmd_build() {
  local t0=$SECONDS entry
  for entry in "${NODE_PACKAGES[@]}"; do apt_install "${entry%%:*}" "${entry#*:}"; done
  [ -x /usr/lib/cni/bridge ] || apt_install /usr/lib/cni/bridge containernetworking-plugins
  "$HERE/control-plane.sh" build --node
  "$HERE/images.sh" build > "$CACHE/images.list"
  log "build finished in $((SECONDS - t0))s; images: $(cut -d' ' -f1 "$CACHE/images.list" | tr '\n' ' ')"
}

# ---- start -------------------------------------------------------------------
make_netns() {
  if [ -e "/run/netns/$NETNS" ]; then
    # A run that was killed leaves its namespace behind; one with processes in it belongs to a live cluster.
    [ -z "$(ip netns pids "$NETNS" 2>/dev/null)" ] || die "network namespace $NETNS is in use: stop the cluster that owns it first"
    log "removing the stale network namespace $NETNS (no process in it)"
    ip netns del "$NETNS"
    ip link del "$HOST_IF" 2>/dev/null || true
  fi
  ip netns add "$NETNS"
  ip link add "$HOST_IF" type veth peer name "$NODE_IF"
  ip link set "$NODE_IF" netns "$NETNS"
  ip addr add "$HOST_ADDR/24" dev "$HOST_IF"
  ip link set "$HOST_IF" up
  ip route add "$POD_CIDR" via "$NODE_ADDR" dev "$HOST_IF"
  in_netns ip link set lo up
  in_netns ip addr add "$NODE_ADDR/24" dev "$NODE_IF"
  in_netns ip link set "$NODE_IF" up
  # A route for ClusterIPs, so a connect() gets as far as kube-proxy's DNAT. On the link itself,
  # with no gateway: an address no rule rewrites finds no neighbour and goes nowhere.
  in_netns ip route add "$SERVICE_CIDR" dev "$NODE_IF"
  # Pods on the bridge reach the node's addresses; the host reaches pods through the node.
  in_netns sysctl -qw net.ipv4.ip_forward=1
  # A listener closed in a SO_REUSEPORT group hands its queued connections to a sibling (rollouts).
  in_netns sysctl -qw net.ipv4.tcp_migrate_req=1
}

write_node_config() { # write_node_config STATE_DIR
  local sd="$1" pki="$1/pki"
  (cd "$pki" && exec 2>>openssl.log && leaf kubelet "/CN=system:node:$NODE_NAME" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:$NODE_ADDR,DNS:$NODE_NAME")
  mkdir -p "$sd/containerd" "$sd/cni/net.d" "$sd/kubelet"
  cat > "$sd/containerd/config.toml" <<EOF
version = 2
root = "$sd/containerd/root"
state = "$sd/containerd/state"
[grpc]
  address = "$sd/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  # No registry: the pod sandbox image is built by images.sh and imported.
  sandbox_image = "$SANDBOX_IMAGE"
  # The sandbox lacks CAP_SYS_RESOURCE: lowering a process's oom_score_adj fails, and runc says
  # so as "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  # Pod network namespaces under the state dir, not /run/netns: stop removes them with it.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$sd/cni/net.d"
EOF
  cat > "$sd/cni/net.d/10-portico-node.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "portico-node",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$sd/cni/ipam",
        "ranges": [[{ "subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    }
  ]
}
EOF
  # cgroupfs and failCgroupV1: the kernel has a hybrid cgroup v1 layout (cgroup2 only at
  # /sys/fs/cgroup/unified). resolvConf "": pods get no name servers, so nothing in the namespace
  # asks this machine's resolver. Eviction thresholds are low: the disk is shared with the machine.
  cat > "$sd/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$sd/containerd/containerd.sock
address: $NODE_ADDR
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $pki/kubelet.crt
tlsPrivateKeyFile: $pki/kubelet.key
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $pki/ca.crt }
authorization: { mode: Webhook }
clusterDomain: cluster.local
resolvConf: ""
failSwapOn: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: { memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1% }
serializeImagePulls: false
EOF
  # conntrack.maxPerCore 0: nf_conntrack_max is the machine's, not the namespace's; leave it alone.
  cat > "$sd/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: { kubeconfig: $sd/kubeconfig }
mode: iptables
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
conntrack: { maxPerCore: 0 }
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
EOF
}

# start_daemon NAME LOGFILE CMD...: runs CMD in the node's namespace, its own session; prints the pid.
start_daemon() {
  local name="$1" logfile="$2"; shift 2
  setsid nsenter "--net=/run/netns/$NETNS" -- "$@" > "$logfile" 2>&1 < /dev/null &
  log "$name started (pid $!)"
  echo $!
}

wait_for() { # wait_for WHAT SECONDS CHECK...
  local what="$1" seconds="$2"; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "$what not reached in ${seconds}s"
    sleep 0.5
  done
}

cmd_start() {
  parse_state_dir "$@"
  [ -x "$BIN/kubelet" ] && [ -f "$CACHE/images.list" ] || die "node binaries or images missing: run '$0 build' first"
  [ -n "$STATE_DIR" ] || STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/portico-cluster.XXXXXX")
  mkdir -p "$STATE_DIR"
  STATE_DIR=$(cd "$STATE_DIR" && pwd -P)
  # shellcheck disable=SC2329  # invoked via trap
  on_fail() {
    trap - EXIT
    log "start failed; logs in $STATE_DIR:"
    tail -n 15 "$STATE_DIR"/*.log >&2 2>/dev/null || true
    if [ -z "${PORTICO_K8S_KEEP_ON_FAIL:-}" ]; then cmd_stop --state-dir "$STATE_DIR" >&2 || true; fi
  }
  trap on_fail EXIT
  trap 'exit 1' INT TERM
  local t0=$SECONDS sd="$STATE_DIR"
  make_netns
  echo "$NETNS" > "$sd/netns"
  "$HERE/control-plane.sh" start --state-dir "$sd" --netns "$NETNS" --address "$NODE_ADDR" --port "$APISERVER_PORT" > /dev/null
  # shellcheck disable=SC1091
  . "$sd/env"
  local pki="$sd/pki" kc="$sd/kubeconfig"
  write_node_config "$sd"

  local CONTAINERD_PID KUBELET_PID KCM_PID SCHED_PID PROXY_PID
  CONTAINERD_PID=$(start_daemon containerd "$sd/containerd.log" containerd --config "$sd/containerd/config.toml")
  wait_for "containerd" 60 ctr --address "$sd/containerd/containerd.sock" version
  local ref tar
  while read -r ref tar; do
    ctr --address "$sd/containerd/containerd.sock" -n k8s.io images import --no-unpack=false "$tar" >&2
    log "image $ref imported"
  done < "$CACHE/images.list"

  KCM_PID=$(start_daemon kube-controller-manager "$sd/kube-controller-manager.log" "$BIN/kube-controller-manager" \
    --kubeconfig="$kc" --leader-elect=false --secure-port=0 \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --use-service-account-credentials=false --concurrent-deployment-syncs=2 --profiling=false)
  SCHED_PID=$(start_daemon kube-scheduler "$sd/kube-scheduler.log" "$BIN/kube-scheduler" \
    --kubeconfig="$kc" --leader-elect=false --secure-port=0 --profiling=false)
  KUBELET_PID=$(start_daemon kubelet "$sd/kubelet.log" "$BIN/kubelet" \
    --config="$sd/kubelet/config.yaml" --kubeconfig="$kc" --root-dir="$sd/kubelet/root" \
    --cert-dir="$sd/kubelet/pki" --hostname-override="$NODE_NAME" --node-ip="$NODE_ADDR")
  PROXY_PID=$(start_daemon kube-proxy "$sd/kube-proxy.log" "$BIN/kube-proxy" --config="$sd/kube-proxy.yaml")
  cat >> "$sd/env" <<EOF
export PORTICO_NODE_NETNS='$NETNS'
export PORTICO_NODE_NAME='$NODE_NAME'
export PORTICO_NODE_ADDRESS='$NODE_ADDR'
export PORTICO_NODE_CONTAINERD_PID='$CONTAINERD_PID'
export PORTICO_NODE_KUBELET_PID='$KUBELET_PID'
export PORTICO_NODE_CONTROLLER_MANAGER_PID='$KCM_PID'
export PORTICO_NODE_SCHEDULER_PID='$SCHED_PID'
export PORTICO_NODE_KUBE_PROXY_PID='$PROXY_PID'
EOF
  local k=("$BIN/kubectl" --kubeconfig "$kc")
  wait_for "Node $NODE_NAME Ready" 120 "${k[@]}" wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s
  wait_for "the default ServiceAccount" 60 "${k[@]}" -n default get serviceaccount default
  trap - EXIT INT TERM
  log "cluster up in $((SECONDS - t0))s: Node $NODE_NAME ($NODE_ADDR), apiserver $PORTICO_K8S_APISERVER, state dir $sd"
  grep '^export' "$sd/env"
}

# ---- stop --------------------------------------------------------------------
# Every pod process is in a kubepods cgroup (cgroupfs driver): kill them all, whatever state the
# kubelet and containerd were left in, then remove the cgroups.
kill_pods() {
  local procs pid
  for _ in 1 2 3 4 5; do
    procs=$(find /sys/fs/cgroup/pids/kubepods -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u || true)
    [ -n "$procs" ] || break
    for pid in $procs; do kill -KILL "$pid" 2>/dev/null || true; done
    sleep 0.2
  done
  local hierarchy
  for hierarchy in /sys/fs/cgroup/*/kubepods; do
    [ -d "$hierarchy" ] && find "$hierarchy" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

kill_matching() { # kill_matching PATTERN NAME: every process whose command line contains PATTERN
  local pid
  for pid in $(pgrep -f -- "$1" || true); do kill -TERM "$pid" 2>/dev/null && log "$2 (pid $pid) stopped"; done
  for _ in $(seq 1 50); do pgrep -f -- "$1" >/dev/null || return 0; sleep 0.1; done
  pkill -KILL -f -- "$1" || true
}

cmd_stop() {
  parse_state_dir "$@"
  [ -n "$STATE_DIR" ] || die "--state-dir DIR is required (or PORTICO_K8S_STATE_DIR)"
  [ -d "$STATE_DIR" ] || { log "$STATE_DIR: nothing to stop"; return 0; }
  STATE_DIR=$(cd "$STATE_DIR" && pwd -P)
  local sd="$STATE_DIR"
  kill_matching "--root-dir=$sd/kubelet/root" kubelet
  kill_matching "--kubeconfig=$sd/kubeconfig --leader-elect=false" "controller-manager/scheduler"
  kill_matching "--config=$sd/kube-proxy.yaml" kube-proxy
  kill_pods
  kill_matching "$sd/containerd/config.toml" containerd
  kill_matching "-address $sd/containerd/containerd.sock" containerd-shim
  # Volumes the kubelet mounted and the snapshots containerd mounted, deepest first.
  findmnt -rn -o TARGET | grep -F "$sd/" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  if [ -f "$sd/.portico-k8s-state" ]; then "$HERE/control-plane.sh" stop --state-dir "$sd"; else rm -rf "$sd"; fi
  if [ -e "/run/netns/$NETNS" ]; then ip netns del "$NETNS" && log "network namespace $NETNS removed"; fi
  ip link del "$HOST_IF" 2>/dev/null || true
}

cmd_status() {
  parse_state_dir "$@"
  "$HERE/control-plane.sh" status --state-dir "$STATE_DIR" || true
  # shellcheck disable=SC1091
  . "$STATE_DIR/env"
  local name pid rc=0
  for name in CONTAINERD KUBELET CONTROLLER_MANAGER SCHEDULER KUBE_PROXY; do
    pid=$(eval "echo \${PORTICO_NODE_${name}_PID:-}")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "  ${name,,}: running (pid $pid)"; else echo "  ${name,,}: NOT running"; rc=1; fi
  done
  "$BIN/kubectl" --kubeconfig "$STATE_DIR/kubeconfig" get nodes -o wide || rc=1
  return $rc
}

case "${1:-}" in
  build) shift; cmd_build "$@" ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  status) shift; cmd_status "$@" ;;
  *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
