#!/usr/bin/env bash
# Portico test control plane (envtest-like): etcd + kube-apiserver on loopback,
# plus kubectl and helm, all built from Go modules into a cache dir outside the repo.
#
#   control-plane.sh build                      build/refresh binaries (idempotent)
#   control-plane.sh start [--state-dir DIR]    start etcd + kube-apiserver, print env
#        [--netns NAME --address IP --port N]   ... inside network namespace NAME, serving on IP:N
#                                               with ServiceAccount tokens and a `kubernetes`
#                                               endpoint, for a cluster with nodes (cluster.sh)
#   control-plane.sh status [--state-dir DIR]   show pids / readiness
#   control-plane.sh stop   [--state-dir DIR]   stop both and remove the state dir
#   control-plane.sh versions                   print pinned versions
#
# start prints `export ...` lines on stdout (logs go to stderr), so both work:
#   eval "$(test/k8s/control-plane.sh start)"      or
#   test/k8s/control-plane.sh start --state-dir /tmp/cp && . /tmp/cp/env
# See test/k8s/README.md.
set -euo pipefail

# ---- pinned versions (override via env) -------------------------------------
K8S_VERSION="${PORTICO_K8S_VERSION:-v1.37.1}"           # k8s.io/kubernetes
HELM_MODULE="${PORTICO_HELM_MODULE:-helm.sh/helm/v4}"
HELM_VERSION="${PORTICO_HELM_VERSION:-v4.3.1}"
ETCD_VERSION="${PORTICO_ETCD_VERSION:-v3.6.16}"         # go.etcd.io/etcd/server/v3
# staging modules (k8s.io/api, ...) are versioned v0.<minor>.<patch>
STAGING_VERSION="v0.${K8S_VERSION#v1.}"

CACHE="${PORTICO_K8S_CACHE:-$HOME/.cache/portico-k8s}"
BIN="$CACHE/bin"
SRC="$CACHE/src"
GO="${GO:-$(command -v go 2>/dev/null || echo /usr/local/go/bin/go)}"
START_TIMEOUT="${PORTICO_K8S_START_TIMEOUT:-90}"

log() { printf '[control-plane] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---- apt helpers -------------------------------------------------------------
APT_UPDATED=0
apt_install() { # apt_install CMD PKG  (installs PKG only if CMD is missing)
  local cmd="$1" pkg="$2"
  command -v "$cmd" >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 || die "$cmd missing and apt-get not available"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  log "installing $pkg (missing $cmd) via apt-get"
  if [ "$APT_UPDATED" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq >&2
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$pkg" >&2
}

# ---- build -------------------------------------------------------------------
go_env() {
  export GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local CGO_ENABLED=0 GOMAXPROCS="${GOMAXPROCS:-2}"
}

stamp_ok() { # stamp_ok NAME STAMP
  [ -x "$BIN/$1" ] && [ -f "$BIN/.$1.stamp" ] && [ "$(cat "$BIN/.$1.stamp")" = "$2" ]
}

timed_build() { # timed_build NAME STAMP MODDIR PKG LDFLAGS
  local name="$1" stamp="$2" dir="$3" pkg="$4" ldflags="$5"
  if stamp_ok "$name" "$stamp"; then
    log "$name: up to date ($stamp)"
    return 0
  fi
  log "$name: building $pkg ($stamp) ..."
  local t0=$SECONDS
  (cd "$dir" && "$GO" build -p 2 -trimpath -ldflags="-s -w $ldflags" -o "$BIN/$name.tmp" "$pkg") || return 1
  mv -f "$BIN/$name.tmp" "$BIN/$name"
  echo "$stamp" > "$BIN/.$name.stamp"
  local dt=$((SECONDS - t0)) size
  size=$(du -h "$BIN/$name" | cut -f1)
  log "$name: built in ${dt}s ($((dt / 60))m$((dt % 60))s), size $size"
  printf '%s\t%s\t%ss\t%s\n' "$(date -u +%FT%TZ)" "$name $stamp" "$dt" "$size" >> "$CACHE/build-times.log"
}

write_gomod() { # write_gomod DIR MODULE VERSION [replace-block]
  local dir="$1" mod="$2" ver="$3" repl="${4:-}"
  mkdir -p "$dir"
  local gover; gover=$("$GO" env GOVERSION); gover="${gover#go}"
  # Only (re)write when the content would change, so go.sum stays valid.
  local want
  want=$(printf 'module portico.local/k8s-tools\n\ngo %s\n\nrequire %s %s\n%s' "${gover%.*}.0" "$mod" "$ver" "$repl")
  if [ ! -f "$dir/go.mod.in" ] || [ "$(cat "$dir/go.mod.in")" != "$want" ]; then
    printf '%s\n' "$want" > "$dir/go.mod.in"
    printf '%s\n' "$want" > "$dir/go.mod"
    rm -f "$dir/go.sum"
  fi
}

# What `build` builds from k8s.io/kubernetes; `build --node` adds a node's components (cluster.sh).
K8S_COMMANDS=(kube-apiserver kubectl)
K8S_NODE_COMMANDS=(kube-controller-manager kube-scheduler kubelet kube-proxy)

build_k8s() {
  local dir="$SRC/kubernetes-$K8S_VERSION" cmd missing=0
  for cmd in "${K8S_COMMANDS[@]}"; do stamp_ok "$cmd" "k8s.io/kubernetes@$K8S_VERSION" || missing=1; done
  if [ "$missing" = 0 ]; then
    log "${K8S_COMMANDS[*]}: up to date (k8s.io/kubernetes@$K8S_VERSION)"
    return 0
  fi
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  # The staging modules kubernetes replaces with ./staging/src/... are read from its own go.mod.
  local kmod
  kmod=$("$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [ -f "$kmod" ] || die "cannot download go.mod of k8s.io/kubernetes@$K8S_VERSION"
  local repl
  repl=$(awk -v v="$STAGING_VERSION" '$2 == "=>" && $3 ~ /^\.\/staging\/src\// {printf "\t%s => %s %s\n", $1, $1, v}' "$kmod")
  [ -n "$repl" ] || die "no staging replace directives found in $kmod"
  write_gomod "$dir" k8s.io/kubernetes "$K8S_VERSION" "$(printf 'replace (\n%s\n)' "$repl")"
  local vpkg ld=""
  for vpkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $vpkg.gitVersion=$K8S_VERSION -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor"
    ld+=" -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=1970-01-01T00:00:00Z"
  done
  local cmd
  for cmd in "${K8S_COMMANDS[@]}"; do
    timed_build "$cmd" "k8s.io/kubernetes@$K8S_VERSION" "$dir" "k8s.io/kubernetes/cmd/$cmd" "$ld" || return 1
  done
}

build_helm() {
  local dir="$SRC/helm-$HELM_VERSION"
  write_gomod "$dir" "$HELM_MODULE" "$HELM_VERSION"
  timed_build helm "$HELM_MODULE@$HELM_VERSION" "$dir" "$HELM_MODULE/cmd/helm" \
    "-X $HELM_MODULE/internal/version.version=$HELM_VERSION -X $HELM_MODULE/internal/version.metadata= -X $HELM_MODULE/internal/version.gitTreeState=clean"
}

build_etcd() {
  local dir="$SRC/etcd-$ETCD_VERSION"
  write_gomod "$dir" go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
  timed_build etcd "go.etcd.io/etcd/server/v3@$ETCD_VERSION" "$dir" go.etcd.io/etcd/server/v3 ""
}

cmd_build() {
  case "${1:-}" in
    --node) K8S_COMMANDS+=("${K8S_NODE_COMMANDS[@]}") ;;
    "") ;;
    *) die "unknown argument: $1" ;;
  esac
  [ -x "$GO" ] || die "go not found (set GO=/path/to/go)"
  mkdir -p "$BIN" "$SRC"
  exec 9> "$CACHE/.build.lock"
  flock 9 || die "cannot lock $CACHE/.build.lock"   # concurrent builds wait for each other
  go_env
  apt_install openssl openssl
  apt_install curl curl
  log "cache: $CACHE  go: $("$GO" env GOVERSION)"
  local t0=$SECONDS rc=0
  build_etcd || {
    log "WARNING: building etcd $ETCD_VERSION failed; start will fall back to Debian's etcd-server"
    apt_install etcd etcd-server
  }
  build_k8s || rc=1
  build_helm || rc=1
  log "build finished in $((SECONDS - t0))s (rc=$rc); binaries in $BIN:"
  ls -lh "$BIN" >&2
  return $rc
}

# ---- start / stop / status ---------------------------------------------------
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    if port_free "$p" && [[ " ${USED_PORTS:-} " != *" $p "* ]]; then
      USED_PORTS="${USED_PORTS:-} $p"; echo "$p"; return 0
    fi
  done
  die "no free port found"
}

# wait_up PID NAME CHECK: 0 once CHECK (a shell condition) holds; 1 if PID exits first; dies after
# START_TIMEOUT seconds.
wait_up() {
  local pid=$1 name=$2 check=$3
  for _ in $(seq 1 $((START_TIMEOUT * 4))); do
    eval "$check" && return 0
    pid_alive "$pid" || return 1
    sleep 0.25
  done
  die "$name not ready after ${START_TIMEOUT}s"
}

etcd_bin() {
  if [ -x "$BIN/etcd" ]; then echo "$BIN/etcd"; return; fi
  apt_install etcd etcd-server
  command -v etcd
}

# leaf NAME SUBJ EXT: NAME.key and NAME.crt signed by ca.key in the current directory.
leaf() {
  openssl ecparam -name prime256v1 -genkey -noout -out "$1.key"
  openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days 3650 \
    -extfile "$1.ext" -out "$1.crt"
  rm -f "$1.csr" "$1.ext"
}

gen_certs() { # gen_certs PKI [EXTRA_SAN]
  local pki="$1" extra_san="${2:+,IP:$2}"
  mkdir -p "$pki"; chmod 700 "$pki"
  (
    cd "$pki"
    exec 2>openssl.log
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key
    openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=portico-test-ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out ca.crt
    leaf apiserver "/CN=kube-apiserver" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1$extra_san"
    leaf admin "/O=system:masters/CN=admin" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
    openssl genrsa -out sa.key 2048
    openssl rsa -in sa.key -pubout -out sa.pub
    chmod 600 ./*.key
  ) || die "certificate generation failed (see $pki/openssl.log)"
}

write_kubeconfig() { # write_kubeconfig FILE URL PKI
  local b64='base64 -w0'
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: portico-test
  cluster:
    server: $2
    certificate-authority-data: $($b64 < "$3/ca.crt")
users:
- name: admin
  user:
    client-certificate-data: $($b64 < "$3/admin.crt")
    client-key-data: $($b64 < "$3/admin.key")
contexts:
- name: portico-test
  context:
    cluster: portico-test
    user: admin
    namespace: default
current-context: portico-test
EOF
  chmod 600 "$1"
}

# pid_alive PID: running, not a zombie. Not pid_is: a process in the middle of execve (setsid →
# nsenter → the server) can show an empty command line for a moment.
pid_alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$state" ] && [ "${state#Z}" = "$state" ]
}

# pid_is PID STATE_DIR: the pid is alive and was started for this state dir
pid_is() {
  [ -n "${1:-}" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' < "/proc/$1/cmdline" | grep -qF -- "$2"
}

kill_pid() { # kill_pid PID STATE_DIR NAME
  local pid="$1" sd="$2" name="$3"
  pid_is "$pid" "$sd" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do pid_is "$pid" "$sd" || { log "$name (pid $pid) stopped"; return 0; }; sleep 0.1; done
  log "$name (pid $pid) did not stop on TERM, sending KILL"
  kill -KILL "$pid" 2>/dev/null || true
}

parse_state_dir() { # sets STATE_DIR from --state-dir or $PORTICO_K8S_STATE_DIR
  STATE_DIR="${PORTICO_K8S_STATE_DIR:-}"
  while [ $# -gt 0 ]; do
    case "$1" in
      --state-dir) STATE_DIR="${2:?--state-dir needs a value}"; shift 2 ;;
      --state-dir=*) STATE_DIR="${1#*=}"; shift ;;
      *) die "unknown argument: $1" ;;
    esac
  done
}

cmd_start() {
  # --netns/--address/--port: a control plane for a cluster with nodes (cluster.sh). Every process
  # runs in network namespace NETNS, the apiserver serves on ADDRESS:PORT there, issues
  # ServiceAccount tokens and keeps the `kubernetes` Service's endpoint.
  local NETNS="" ADDRESS=127.0.0.1 FIXED_PORT="" args=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --netns) NETNS="${2:?--netns needs a value}"; shift 2 ;;
      --address) ADDRESS="${2:?--address needs a value}"; shift 2 ;;
      --port) FIXED_PORT="${2:?--port needs a value}"; shift 2 ;;
      *) args+=("$1"); shift ;;
    esac
  done
  parse_state_dir "${args[@]}"
  local -a IN_NETNS=()
  if [ -n "$NETNS" ]; then
    [ -e "/run/netns/$NETNS" ] || die "network namespace $NETNS does not exist"
    IN_NETNS=(nsenter "--net=/run/netns/$NETNS" --)
  fi
  if [ ! -x "$BIN/kube-apiserver" ] || [ ! -x "$BIN/kubectl" ]; then
    die "binaries missing in $BIN: run '$0 build' first"
  fi
  local created=0
  if [ -z "$STATE_DIR" ]; then
    STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/portico-k8s.XXXXXX"); created=1
  else
    # shellcheck disable=SC1091
    [ -f "$STATE_DIR/env" ] && pid_is "$(. "$STATE_DIR/env"; echo "$PORTICO_K8S_APISERVER_PID")" "$STATE_DIR" \
      && die "a control plane is already running in $STATE_DIR (stop it first)"
    mkdir -p "$STATE_DIR"
  fi
  STATE_DIR=$(cd "$STATE_DIR" && pwd -P)
  touch "$STATE_DIR/.portico-k8s-state"
  apt_install openssl openssl
  apt_install curl curl
  local etcd; etcd=$(etcd_bin)

  local ETCD_PID="" APISERVER_PID=""
  # shellcheck disable=SC2329  # invoked via trap
  on_fail() {
    trap - EXIT
    log "start failed; logs: $STATE_DIR/etcd.log $STATE_DIR/kube-apiserver.log"
    tail -n 20 "$STATE_DIR/kube-apiserver.log" "$STATE_DIR/etcd.log" >&2 2>/dev/null || true
    kill_pid "$APISERVER_PID" "$STATE_DIR" kube-apiserver
    kill_pid "$ETCD_PID" "$STATE_DIR" etcd
    if [ "$created" = 1 ] && [ -z "${PORTICO_K8S_KEEP_ON_FAIL:-}" ]; then rm -rf "$STATE_DIR"; fi
  }
  # die() exits, so clean up on EXIT (disarmed on success); INT/TERM exit through it too.
  trap on_fail EXIT
  trap 'exit 1' INT TERM

  local t0=$SECONDS
  gen_certs "$STATE_DIR/pki" "$([ "$ADDRESS" = 127.0.0.1 ] || echo "$ADDRESS")"
  local pki="$STATE_DIR/pki"

  # etcd: plain HTTP on loopback, throwaway data dir. A port found free can be taken by another
  # process before etcd binds it; etcd then exits at once, and we try again with new ports.
  local EP PP attempt
  local ever; ever=$("$etcd" --version 2>/dev/null | sed -n 's/^etcd Version: //p')
  for attempt in 1 2 3; do
    EP=$(free_port); PP=$(free_port)
    [ "$EP" != "$PP" ] || continue
    local -a eflags=(--name portico --data-dir "$STATE_DIR/etcd-data"
      --listen-client-urls "http://127.0.0.1:$EP" --advertise-client-urls "http://127.0.0.1:$EP"
      --listen-peer-urls "http://127.0.0.1:$PP" --initial-advertise-peer-urls "http://127.0.0.1:$PP"
      --initial-cluster "portico=http://127.0.0.1:$PP" --initial-cluster-state new
      --log-level warn)
    case "$ever" in
      3.4.*) eflags+=(--logger zap) ;;
      *) eflags+=(--unsafe-no-fsync) ;;   # 3.5+: fine for a throwaway test store
    esac
    rm -rf "$STATE_DIR/etcd-data"
    setsid "${IN_NETNS[@]}" "$etcd" "${eflags[@]}" > "$STATE_DIR/etcd.log" 2>&1 < /dev/null &
    ETCD_PID=$!
    if wait_up "$ETCD_PID" "etcd" "${IN_NETNS[*]} curl -fsS http://127.0.0.1:$EP/health 2>/dev/null | grep -q '\"health\":\"true\"'"; then break; fi
    [ "$attempt" -lt 3 ] || die "etcd exited at start 3 times (see $STATE_DIR/etcd.log)"
    log "etcd exited at start (a port taken meanwhile?); retrying with new ports"
  done
  log "etcd $ever ready on http://127.0.0.1:$EP (pid $ETCD_PID) after $((SECONDS - t0))s"

  local AP URL
  mkdir -p "$STATE_DIR/apiserver"
  local -a extra=()   # extra flags, whitespace-separated
  read -r -a extra <<< "${PORTICO_K8S_APISERVER_FLAGS:-}"
  local -a node_flags=(--disable-admission-plugins=ServiceAccount --endpoint-reconciler-type=none)
  # With nodes, pods get ServiceAccount tokens (the controller-manager makes the accounts) and the
  # `kubernetes` Service an endpoint; the kubelet's serving certificate is not checked (it is self-signed).
  [ -z "$NETNS" ] || node_flags=(--kubelet-client-certificate="$pki/admin.crt" --kubelet-client-key="$pki/admin.key"
    --kubelet-preferred-address-types=InternalIP)
  local curlc=("${IN_NETNS[@]}" curl -sS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key")
  for attempt in 1 2 3; do
    AP=${FIXED_PORT:-$(free_port)}
    URL="https://$ADDRESS:$AP"
    # Without nodes there is no kube-controller-manager: ServiceAccount admission is disabled so
    # Pods can be created without the (controller-made) "default" ServiceAccount.
    setsid "${IN_NETNS[@]}" "$BIN/kube-apiserver" \
      --etcd-servers="http://127.0.0.1:$EP" \
      --bind-address="$([ -z "$NETNS" ] && echo 127.0.0.1 || echo 0.0.0.0)" --advertise-address="$ADDRESS" --secure-port="$AP" \
      --cert-dir="$STATE_DIR/apiserver" \
      --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
      --client-ca-file="$pki/ca.crt" \
      --service-account-issuer="$URL" \
      --service-account-key-file="$pki/sa.pub" \
      --service-account-signing-key-file="$pki/sa.key" \
      --authorization-mode=RBAC \
      --service-cluster-ip-range=10.96.0.0/16 \
      "${node_flags[@]}" \
      --allow-privileged=true \
      --profiling=false \
      "${extra[@]}" \
      > "$STATE_DIR/kube-apiserver.log" 2>&1 < /dev/null &
    APISERVER_PID=$!
    if wait_up "$APISERVER_PID" "kube-apiserver" "[ \"\$(${curlc[*]} -o /dev/null -w '%{http_code}' $URL/readyz 2>/dev/null)\" = 200 ]"; then break; fi
    [ "$attempt" -lt 3 ] && [ -z "$FIXED_PORT" ] || die "kube-apiserver exited at start $attempt times (see $STATE_DIR/kube-apiserver.log)"
    log "kube-apiserver exited at start (its port taken meanwhile?); retrying with a new port"
  done
  log "kube-apiserver ready on $URL (pid $APISERVER_PID) after $((SECONDS - t0))s"

  local kc="$STATE_DIR/kubeconfig"
  write_kubeconfig "$kc" "$URL" "$pki"
  local k=("$BIN/kubectl" --kubeconfig "$kc")
  "${k[@]}" get ns default >/dev/null 2>&1 || "${k[@]}" create ns default >&2
  "${k[@]}" get ns >&2
  [ "$("${k[@]}" auth can-i '*' '*' 2>/dev/null)" = yes ] || die "kubectl auth can-i '*' '*' is not 'yes' for admin"

  cat > "$STATE_DIR/env" <<EOF
# Portico test control plane; source this file (all lines are 'export K=V').
export PORTICO_K8S_STATE_DIR='$STATE_DIR'
export KUBECONFIG='$kc'
export PORTICO_K8S_APISERVER='$URL'
export PORTICO_K8S_ETCD='http://127.0.0.1:$EP'
export PORTICO_K8S_APISERVER_PID='$APISERVER_PID'
export PORTICO_K8S_ETCD_PID='$ETCD_PID'
export PORTICO_K8S_CA='$pki/ca.crt'
export PORTICO_K8S_CLIENT_CERT='$pki/admin.crt'
export PORTICO_K8S_CLIENT_KEY='$pki/admin.key'
export PORTICO_K8S_BIN='$BIN'
export KUBECTL='$BIN/kubectl'
export HELM='$BIN/helm'
export PATH='$BIN':"\$PATH"
EOF
  trap - EXIT INT TERM
  log "control plane up in $((SECONDS - t0))s; state dir $STATE_DIR"
  log "stop with: $0 stop --state-dir $STATE_DIR"
  grep '^export' "$STATE_DIR/env"
}

load_state() {
  parse_state_dir "$@"
  [ -n "$STATE_DIR" ] || die "--state-dir DIR is required (or PORTICO_K8S_STATE_DIR)"
  [ -f "$STATE_DIR/.portico-k8s-state" ] || die "$STATE_DIR is not a portico-k8s state dir"
  STATE_DIR=$(cd "$STATE_DIR" && pwd -P)
  PORTICO_K8S_APISERVER_PID="" PORTICO_K8S_ETCD_PID="" PORTICO_K8S_APISERVER=""
  if [ -f "$STATE_DIR/env" ]; then
    # shellcheck disable=SC1091
    . "$STATE_DIR/env"
  fi
}

cmd_stop() {
  load_state "$@"
  local pid
  # env may be missing if start died half-way: fall back to scanning /proc for our processes.
  for pid in ${PORTICO_K8S_APISERVER_PID:-} $(pgrep -f -- "--cert-dir=$STATE_DIR/apiserver" || true); do
    kill_pid "$pid" "$STATE_DIR" kube-apiserver
  done
  for pid in ${PORTICO_K8S_ETCD_PID:-} $(pgrep -f -- "--data-dir $STATE_DIR/etcd-data" || true); do
    kill_pid "$pid" "$STATE_DIR" etcd
  done
  rm -rf "$STATE_DIR"
  log "removed $STATE_DIR"
}

cmd_status() {
  local rc=0
  printf 'binaries (%s):\n' "$BIN"
  local b
  for b in etcd kube-apiserver kubectl helm; do
    if [ -x "$BIN/$b" ]; then printf '  %-15s %s  %s\n' "$b" "$(cat "$BIN/.$b.stamp" 2>/dev/null)" "$(du -hL "$BIN/$b" | cut -f1)"
    else printf '  %-15s (not built)\n' "$b"; fi
  done
  parse_state_dir "$@"
  [ -n "$STATE_DIR" ] || return 0
  load_state "$@"
  printf 'state dir: %s\n' "$STATE_DIR"
  if pid_is "$PORTICO_K8S_ETCD_PID" "$STATE_DIR"; then echo "  etcd:           running (pid $PORTICO_K8S_ETCD_PID) $PORTICO_K8S_ETCD"
  else echo "  etcd:           NOT running"; rc=1; fi
  if pid_is "$PORTICO_K8S_APISERVER_PID" "$STATE_DIR"; then
    local ready
    ready=$(curl -sS --cacert "$PORTICO_K8S_CA" --cert "$PORTICO_K8S_CLIENT_CERT" --key "$PORTICO_K8S_CLIENT_KEY" \
      -o /dev/null -w '%{http_code}' "$PORTICO_K8S_APISERVER/readyz" 2>/dev/null || true)
    echo "  kube-apiserver: running (pid $PORTICO_K8S_APISERVER_PID) $PORTICO_K8S_APISERVER readyz=$ready"
    [ "$ready" = 200 ] || rc=1
  else echo "  kube-apiserver: NOT running"; rc=1; fi
  return $rc
}

cmd_versions() {
  cat <<EOF
k8s.io/kubernetes     $K8S_VERSION (staging k8s.io/* $STAGING_VERSION)
$HELM_MODULE       $HELM_VERSION
go.etcd.io/etcd/server/v3 $ETCD_VERSION (fallback: Debian etcd-server)
cache                 $CACHE
EOF
}

# Sourced (cluster.sh) it only defines functions.
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

case "${1:-}" in
  build) shift; cmd_build "$@" ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  status) shift; cmd_status "$@" ;;
  versions) shift; cmd_versions ;;
  *) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
