// Package deploy holds the manifests meshfed installs, embedded so that the mesh CLI prints
// them with no files beside it: the CRDs generated from pkg/apis (crds/, written by
// `make generate`, never by hand; all of them, or those of one command: the multicluster
// ones, the policy ones), the manifests of `mesh multicluster install` (multicluster/: the
// namespace, the link controller and its RBAC, and the read-only ServiceAccount other
// clusters use), and the control plane of `mesh install`.
//
// The control plane has one source: the templates of the Helm chart charts/meshfed. `mesh
// install` renders those very files (ControlPlane) with Go's text/template and a data value
// shaped as Helm's, {Values: {clusterName, trustDomain, registry, version, ha}}, so `helm
// install` and `mesh install` make the same objects; a test in pkg/cmd/install renders the
// chart with the real helm and compares. The templates may therefore call only what both
// have: text/template's own functions, and list, trimSuffix and fail, which funcs defines
// here as sprig and Helm define them. The chart's crds/ holds copies of the policy CRDs of
// crds/ (Helm reads nothing outside the chart), kept equal by a test and by make generate.
//
// The multicluster files are plain manifests that `kubectl apply -f` takes as they are. This
// package hands out the manifests' bytes in the order to apply them; it does not parse or
// apply them: the commands that print them set what the user chooses, such as the image.
package deploy
