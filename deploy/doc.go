// Package deploy holds the manifests meshfed installs, embedded so that the mesh CLI prints
// them with no files beside it: the CRDs generated from pkg/apis (crds/, written by
// `make generate`, never by hand; all of them, or those of one command: the multicluster
// ones, the policy ones) and the manifests of `mesh multicluster install`
// (multicluster/: the namespace, the link controller and its RBAC, and the read-only
// ServiceAccount other clusters use).
//
// The files are plain manifests that `kubectl apply -f` takes as they are. This package only
// hands out their bytes in the order to apply them; it does not parse, template or apply them:
// the commands that print them set what the user chooses, such as the image.
package deploy
