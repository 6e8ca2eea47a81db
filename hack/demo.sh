#!/usr/bin/env bash
# make demo: two local clusters with issuers from one trust anchor and the mesh's control
# plane, the multicluster components in both, west linked to east, and the demo app meshed
# across them: its front end in west calls its voting back end in east through east's
# gateway. Needs root; run from the repository.
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

echo "• Installing the multicluster components: link controller, east-west gateway (west, east)"
mesh multicluster install --cluster-name west | kubectl --context west apply -f - >/dev/null
mesh multicluster install --cluster-name east --allow-clusters west | kubectl --context east apply -f - >/dev/null
kubectl --context west -n mesh-multicluster wait --for=condition=Available deployment/link-controller --timeout=120s >/dev/null
kubectl --context east -n mesh-multicluster wait --for=condition=Available deployment/mesh-gateway --timeout=120s >/dev/null
for i in $(seq 60); do
  [ -n "$(kubectl --context east -n mesh-multicluster get service mesh-gateway -o jsonpath='{.status.loadBalancer.ingress[0].ip}')" ] && break
  [ "$i" = 60 ] && { echo "east's gateway Service got no LoadBalancer address" >&2; exit 1; }
  sleep 1
done

echo "• Linking west to east (east's gateway address and identity read from east)"
mesh --context east multicluster link --cluster-name east --create-missing-namespaces \
  | kubectl --context west apply -f - >/dev/null
kubectl --context west -n mesh-multicluster wait --for=condition=Ready link/east --timeout=90s >/dev/null

echo "• Installing the demo app, voting in east and the rest in west, and injecting it"
mesh demo install --voting-only | kubectl --context east apply -f - >/dev/null
mesh demo install --voting-in east | kubectl --context west apply -f - >/dev/null
for c in east west; do
  kubectl --context "$c" -n meshfed-demo get deploy -o yaml \
    | mesh --context "$c" inject --cluster-name "$c" - 2>/dev/null | kubectl --context "$c" apply -f - >/dev/null
done
kubectl --context east -n meshfed-demo rollout status deployment/voting --timeout=180s >/dev/null
for d in web emoji vote-bot; do
  kubectl --context west -n meshfed-demo rollout status deployment/$d --timeout=180s >/dev/null
done
kubectl --context west -n meshfed-demo wait --for=create service/voting-east --timeout=60s >/dev/null
mesh --context west check --proxy -n meshfed-demo --wait 1m
mesh --context east check --proxy -n meshfed-demo --wait 1m
mesh --context west multicluster check
mesh --context west multicluster gateways

cat <<EOT

✓ west and east are up with the mesh and linked; the demo's web runs in west and calls
  voting in east through east's gateway, mTLS from web's proxy to voting's:

  export KUBECONFIG=$KUBECONFIG PATH=$cache/bin:\$PATH
  kubectl --context west -n meshfed-demo get pods                 # 2/2: app and proxy
  kubectl --context west -n meshfed-demo get service voting-east  # east's voting, mirrored
  kubectl --context west get --raw /api/v1/namespaces/meshfed-demo/services/web:80/proxy/api/results   # the votes
  for p in \$(kubectl --context east -n meshfed-demo get pod -l app=voting -o jsonpath='{.items[*].metadata.name}'); do
    kubectl --context east get --raw /api/v1/namespaces/meshfed-demo/pods/\$p:4191/proxy/metrics | grep 'requests_total.*inbound'
  done   # client_id="spiffe://west.meshfed.local/ns/meshfed-demo/sa/web": west's web, seen in east
  kubectl --context west -n mesh-multicluster get links
  mesh --context west multicluster gateways                # east's gateway: alive, since, mirrored
  mesh --context west multicluster check
  mesh trust verify --context west --context east

Remove everything with: make demo-down
EOT
