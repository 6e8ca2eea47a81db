// Package local runs Kubernetes clusters on this machine from real parts with no container
// engine: each cluster is one node, and the node is a set of Linux namespaces of its own
// (network, mount, PID, UTS, IPC) in which etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, containerd with runc and CNI, kubelet and kube-proxy run as processes. CoreDNS,
// cert-manager and MetalLB run in it as ordinary pods from images built here.
//
// What kind does with a container, this does with namespaces; the difference a test can see
// is none. Nodes share one bridge on which only node and LoadBalancer addresses are routed (and
// pod ranges too in flat mode). Every address is in 198.18.0.0/15 and no node has a default
// route, so nothing in a cluster reaches an address outside the run.
//
// There is no state file: what is up is read back from the system (the node processes, the
// bridge, cgroups, the run folder), which is what lets Down clean a run that crashed. The node's
// PID namespace init supervises its components; killing it takes everything inside with it.
//
// It does not build binaries or images (package build does), and it runs one set of clusters
// per machine at a time.
package local
