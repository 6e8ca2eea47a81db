// Package trustcmd holds the `mesh trust` commands, each an options struct with Complete,
// Validate and Run:
//
//   - anchor makes the federation's trust anchor as two files, ca.crt and ca.key;
//   - cluster prints what a cluster applies to get its issuer and trust bundle, through
//     cert-manager (--cert-manager) or made here;
//   - verify reads the bundle and the issuer of several clusters (by kubeconfig context)
//     and checks that each trusts every other's issuer, one line per check;
//   - rotate-anchor prints, step by step, what moves a federation to a new anchor with no
//     outage: trust both, reissue, drop the old.
//
// They print YAML for kubectl apply and never change a cluster themselves. verify uses
// only the certificates of the issuer Secret, never its key, and prints no Secret data. The PKI is pkg/trust's and the
// objects pkg/trust/certmanager's: this package holds flags, files and words.
package trustcmd
