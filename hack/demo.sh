#!/usr/bin/env bash
# make demo: two local clusters with issuers from one trust anchor and the mesh's control
# plane, the demo app meshed in west, the multicluster components in both, west linked to
# east, and one Service exported by east mirrored in west. Needs root; run from the repository.
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

echo "• Installing the control plane: identity, destination, proxy injector (west, east)"
for c in west east; do
  mesh install --crds | kubectl --context "$c" apply -f - >/dev/null
  install=$(mesh install --cluster-name "$c" --identity-external-issuer)
  # Its Certificates wait on cert-manager's webhook too.
  for i in $(seq 60); do
    kubectl --context "$c" apply -f - <<<"$install" >/dev/null 2>&1 && break
    [ "$i" = 60 ] && { kubectl --context "$c" apply -f - <<<"$install"; exit 1; }
    sleep 1
  done
done
for c in west east; do
  mesh --context "$c" check --wait 3m >/dev/null || mesh --context "$c" check
done
mesh trust verify --context west --context east >/dev/null

echo "• Installing the demo app in west, and injecting it"
mesh demo install | kubectl --context west apply -f - >/dev/null
kubectl --context west -n meshfed-demo get deploy -o yaml \
  | mesh --context west inject --cluster-name west - 2>/dev/null | kubectl --context west apply -f - >/dev/null
for d in web emoji voting vote-bot; do
  kubectl --context west -n meshfed-demo rollout status deployment/$d --timeout=180s >/dev/null
done
mesh --context west check --proxy -n meshfed-demo --wait 1m

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

✓ west and east are up with the mesh, the demo app runs meshed in west, and west mirrors
  what east exports:

  export KUBECONFIG=$KUBECONFIG PATH=$cache/bin:\$PATH
  kubectl --context west get nodes
  kubectl --context west -n meshfed-demo get pods                 # 2/2: app and proxy
  kubectl --context west get --raw /api/v1/namespaces/meshfed-demo/services/web:80/proxy/api/results   # the votes
  web=\$(kubectl --context west -n meshfed-demo get pod -l app=web -o jsonpath='{.items[0].metadata.name}')
  kubectl --context west get --raw /api/v1/namespaces/meshfed-demo/pods/\$web:4191/proxy/metrics | grep requests_total
  kubectl --context west -n shop get service web-east       # east's web, mirrored
  kubectl --context west -n mesh-multicluster get links
  mesh --context west multicluster check
  mesh trust verify --context west --context east

Remove everything with: make demo-down
EOT
