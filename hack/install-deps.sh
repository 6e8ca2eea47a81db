#!/usr/bin/env bash
# Installs the Debian packages the project needs: etcd, containerd, runc, the CNI plugins,
# iptables and conntrack for the local clusters, protoc with the well-known types for
# `make generate`, haproxy, the baseline `go run ./bench/proxy` compares the proxy with, and for
# pkg/viz's tests a real Prometheus (the `prometheus` binary, its service kept from starting as
# the others') and chromium, the headless browser the dashboard's test drives.
# Idempotent: a machine that has them all is left alone, so a warm second run costs nothing.
set -euo pipefail

packages=(etcd-server containerd runc containernetworking-plugins iptables conntrack iproute2 util-linux ca-certificates protobuf-compiler libprotobuf-dev haproxy prometheus chromium)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: need root to install ${missing[*]}; run: sudo $0" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
# The packages' own services (a host etcd on :2379, a host containerd) must not start: every
# cluster runs its own inside its node. policy-rc.d tells the maintainer scripts so.
made_policy=false
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  made_policy=true
fi
trap '$made_policy && rm -f /usr/sbin/policy-rc.d' EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
