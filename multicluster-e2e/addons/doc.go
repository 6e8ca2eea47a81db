// Package addons holds the manifests of the add-ons every local cluster runs
// as ordinary pods: CoreDNS for cluster DNS, cert-manager for the trust
// chain, and MetalLB for LoadBalancer addresses on the network between
// clusters. It also names the images those manifests use and the tools
// module under hack/tools that builds each one, so that the provider can
// pack and import exactly the images the manifests ask for.
//
// The manifests are embedded and carry no image digests: every image is
// built here from Go source, packed with the binary as its ENTRYPOINT and
// imported into each node's containerd under the name the manifests use.
// For that reason every container sets imagePullPolicy: IfNotPresent and
// gives only args, never command.
//
// Each add-on keeps as close to its upstream install as the machine allows:
//
//   - CoreDNS is written here, after the kubeadm and coredns/deployment
//     manifests, with one deliberate difference: its Corefile has no
//     forward plugin. The host's resolver is outside the run and must never
//     be reached, so cluster names are answered and everything else fails.
//   - cert-manager is its v1.11.5 Helm chart rendered for the default values
//     the way its release manifest is, by hack/tools/cert-manager/render.
//   - MetalLB is its v0.15.2 metallb-native.yaml, byte for byte; only the
//     pull policy is set when it is served.
//
// What the package does not do: it does not apply anything, wait for
// readiness or talk to a cluster (the provider does, and it must apply
// MetalLBPool only once MetalLB's webhook answers); it does not build or pack
// images; and it is not the manifest set meshfed installs for users, which
// lives under deploy/. It depends on the standard library only.
package addons
