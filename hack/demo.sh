#!/usr/bin/env bash
# make demo: two local clusters with issuers from one trust anchor and the identity service,
# the multicluster components in both, west linked to east, and one Service exported by east
# mirrored in west. Needs root; run from the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${MESHFED_CACHE:-$PWD/.cache}
clusters=$cache/bin/clusters
mkdir -p "$cache/bin"
go build -o "$cache/bin/clusters" ./multicluster-e2e/cmd/clusters
go build -o "$cache/bin/mesh" ./cmd/mesh

"$clusters" down
"$clusters" up --clusters west,east
export KUBECONFIG=$("$clusters" kubeconfig) PATH=$cache/bin:$PATH

echo "• Giving west and east their issuers from one trust anchor (cert-manager)"
anchor=$cache/demo-anchor
mesh trust anchor --out "$anchor" --force >/dev/null 2>&1
for c in west east; do
  trust=$(mesh trust cluster --anchor "$anchor" --cluster "$c" --cert-manager)
  # cert-manager's webhook may still be starting: retry for a minute.
  for i in $(seq 60); do
    kubectl --context "$c" apply -f - <<<"$trust" >/dev/null 2>&1 && break
    [ "$i" = 60 ] && { kubectl --context "$c" apply -f - <<<"$trust"; exit 1; }
    sleep 1
  done
done

echo "• Installing the control plane: the identity service (west, east)"
for c in west east; do
  mesh install --cluster-name "$c" | kubectl --context "$c" apply -f - >/dev/null
done
for c in west east; do
  kubectl --context "$c" -n mesh-system wait --for=condition=Available deployment/meshfed-identity --timeout=120s >/dev/null
done
mesh trust verify --context west --context east

echo "• Installing the multicluster components (west, east)"
for c in west east; do
  mesh --context "$c" multicluster install | kubectl --context "$c" apply -f - >/dev/null
done
kubectl --context west -n mesh-multicluster wait --for=condition=Available deployment/link-controller --timeout=120s >/dev/null

# East's gateway comes with a later issue; until then mirrors point at the address it will
# have, the first of east's LoadBalancer pool.
echo "• Linking west to east"
mesh --context east multicluster link --cluster-name east --gateway-addresses 198.18.0.120 \
  --create-missing-namespaces | kubectl --context west apply -f - >/dev/null
kubectl --context west -n mesh-multicluster wait --for=condition=Ready link/east --timeout=60s >/dev/null

echo "• Exporting a Service from east"
kubectl --context east create namespace shop >/dev/null
kubectl --context east -n shop create service clusterip web --tcp=80:8080 >/dev/null
kubectl --context east -n shop label service web mirror.meshfed.io/exported=true >/dev/null
kubectl --context west -n shop wait --for=create service/web-east --timeout=30s >/dev/null

cat <<EOT

✓ west and east are up, and west mirrors what east exports:

  export KUBECONFIG=$KUBECONFIG PATH=$cache/bin:\$PATH
  kubectl --context west get nodes
  kubectl --context west -n shop get service web-east       # east's web, mirrored
  kubectl --context west -n mesh-multicluster get links
  mesh --context west multicluster check
  mesh trust verify --context west --context east

Remove everything with: make demo-down
EOT
