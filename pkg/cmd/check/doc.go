// Package check is `mesh check`: it checks that one cluster can run the mesh (--pre), that
// the control plane `mesh install` printed is there and well (the default), and that the
// proxies of a namespace are up (--proxy): one line per check, a hint on each failure, a
// non-zero exit when one fails, -o json for scripts.
//
// What it checks of the control plane follows the manifests `mesh install` prints: every
// Deployment and webhook they hold, so a new component is checked as soon as it is
// installed. It does not check links between clusters (`mesh multicluster check`) or whether
// clusters share an anchor (`mesh trust verify`).
package check
