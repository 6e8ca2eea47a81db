// Package inject is `mesh inject`: it reads Kubernetes objects as YAML (several documents, or
// a List as `kubectl get -o yaml` prints it), adds meshfed's proxy to the pod template of
// every Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob and Pod, and prints them
// all for kubectl apply, with one line per object on stderr: injected, or skipped and why.
//
// The injection itself is pkg/inject's, the same the webhook does; running `mesh inject`
// means "inject these", so it opts each object in (meshfed.io/inject: enabled) unless the
// object says disabled. Only the pod template changes, by a strategic merge patch from what
// pkg/inject added: every other field, and every other object, is printed as it came, fields
// this version of Kubernetes' API does not know included.
//
// It reads a cluster only for the trust bundle, and not at all with --bundle. It applies
// nothing. Malformed input prints nothing but the error, with the document and line.
package inject
