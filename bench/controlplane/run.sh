#!/usr/bin/env bash
# bench/controlplane: the memory of the mesh's control plane with the demo app running, the
# way `make demo` leaves it (west: the control plane, the link controller and the demo app
# meshed, five proxies). It reads the resident memory (VmRSS) of every process of west's pods,
# grouped by component, after the demo has run for a while, and prints it beside the goal
# (< 150 MiB for the whole control plane) and the figure Linkerd quotes for its own (365 MB).
# The clusters are removed at the end, also on failure.
#
#   bench/controlplane/run.sh [SETTLE_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
settle=${1:-30}
cache=${MESHFED_CACHE:-$PWD/.cache}
trap '"$cache/bin/clusters" down >/dev/null 2>&1 || true' EXIT

hack/demo.sh >/dev/null
echo "• the demo runs for ${settle}s"
sleep "$settle"

# rss_of PATTERN: the summed VmRSS (KiB) and count of west's processes whose command line
# starts with PATTERN. A pod's processes sit in west's cgroup tree (meshfed-west).
rss_of() {
  local pattern=$1 total=0 n=0
  for d in /proc/[0-9]*; do
    [ -r "$d/cmdline" ] || continue
    cmd=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) || continue
    [[ $cmd == "$pattern"* ]] || continue
    grep -q "meshfed-west" "$d/cgroup" 2>/dev/null || continue
    kb=$(awk '/^VmRSS:/ {print $2}' "$d/status" 2>/dev/null || echo 0)
    total=$((total + ${kb:-0})); n=$((n + 1))
  done
  echo "$total $n"
}

printf '%-34s %6s %10s\n' "component (west)" "procs" "RSS"
cp_total=0 cp_n=0
for c in "controller identity" "controller destination" "controller injector"; do
  read -r kb n < <(rss_of "/usr/local/bin/$c")
  cp_total=$((cp_total + kb)); cp_n=$((cp_n + n))
  printf '%-34s %6d %7d MiB\n' "$c" "$n" $((kb / 1024))
done
printf '%-34s %6d %7d MiB\n' "control plane, total" "$cp_n" $((cp_total / 1024))
read -r lkb ln < <(rss_of "/usr/local/bin/link")
printf '%-34s %6d %7d MiB\n' "link controller (multicluster)" "$ln" $((lkb / 1024))
read -r pkb pn < <(rss_of "/usr/local/bin/proxy run")
printf '%-34s %6d %7d MiB (%d MiB each)\n' "proxies (proxy run)" "$pn" $((pkb / 1024)) $((pn > 0 ? pkb / 1024 / pn : 0))
echo
echo "goal: control plane < 150 MiB; Linkerd quotes 365 MB for its control plane"
