// Package inject adds meshfed's proxy to a pod: one pure function, Inject, that the admission
// webhook (`controller injector`, package pkg/inject/webhook) and `mesh inject` both call, so
// a pod injected by either is the same pod.
//
// Inject takes a pod template (a Pod's metadata and spec, or a workload's spec.template), the
// annotations of its namespace and a Config (the proxy image, the trust domain and bundle,
// whether the cluster runs native sidecars, the default resources and log level), and returns
// the injected template or the reason it left it alone. What it adds:
//
//   - meshfed-init, an init container that runs `proxy init` as root with NET_ADMIN and
//     NET_RAW to send the pod's TCP through the proxy (package pkg/proxy/iptables);
//   - meshfed-proxy, `proxy run` as UID 2102: a native sidecar (an init container with
//     restartPolicy Always right after meshfed-init, whose startup probe holds the app's
//     containers back until the proxy has its certificate) where the cluster supports them,
//     else the first container;
//   - the projected ServiceAccount token (audience identity.meshfed.io) the proxy proves its
//     identity with, and the annotation meshfed.io/injected.
//
// Injection is opt-in (meshfed.io/inject: enabled on the pod template or its namespace;
// disabled on the pod wins) and tuned by the annotations named below. An annotation value it
// does not understand is an error naming the annotation and the values it takes; a pod it
// must not inject (host network, a port of the proxy's already taken, already injected) is a
// Result with the reason. Callers decide what to do with either: the webhook lets the pod
// through unchanged with an admission warning, `mesh inject` prints the reason.
//
// Limits that follow from the design: without native sidecars the proxy is a container like
// the app's, so a Job's pod runs on after its app ends, and the app may start before the
// proxy is ready; and meshfed-init adds NET_ADMIN and NET_RAW, which the baseline and
// restricted Pod Security Standards refuse, so such namespaces cannot be meshed until a CNI
// plugin does the init step instead.
//
// It deliberately does not read a cluster, decode YAML or admission requests, or compute
// patches: callers do. Its output depends only on its input, so golden files hold it.
package inject
