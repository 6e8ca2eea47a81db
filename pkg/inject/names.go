package inject

import "github.com/meshfed/meshfed/pkg/proxy/iptables"

// Names Inject gives the containers and volumes it adds. A pod holding either container is
// already injected.
const (
	ProxyContainerName = "meshfed-proxy"
	InitContainerName  = "meshfed-init"

	// TokenVolumeName is the projected ServiceAccount token the proxy proves its identity
	// with, mounted at TokenMountPath as TokenPath, for the identity service's audience.
	TokenVolumeName = "meshfed-identity-token"
	TokenMountPath  = "/var/run/secrets/meshfed.io/identity"
	TokenPath       = "token"
	// TokenExpirationSeconds is the token's life; the kubelet renews it at 80%, and the
	// proxy reads the file again at each renewal of its certificate.
	TokenExpirationSeconds = 86400
	// TokenAudience is identity.Audience, spelt out so that the CLI does not compile the
	// identity service (a test keeps the two equal).
	TokenAudience = "identity.meshfed.io"

	// XtablesLockVolumeName is an emptyDir at /run in meshfed-init: iptables-legacy takes
	// its lock in /run/xtables.lock, and the init container's root filesystem is read-only.
	XtablesLockVolumeName = "meshfed-xtables-lock"

	// TrustCacheVolumeName is an emptyDir in memory at TrustCacheMountPath where the proxy
	// keeps the last trust bundle the identity service streamed: a proxy restarted after an
	// anchor rotation starts from it rather than from the bundle in its env, which may no
	// longer hold the anchor the identity service's certificate chains to.
	TrustCacheVolumeName = "meshfed-trust"
	TrustCacheMountPath  = "/var/run/meshfed.io/trust"
	TrustCacheFile       = "ca-bundle.crt"
)

// Annotations that ask for and tune injection, on a pod template (or, for AnnotationInject
// only, its namespace).
const (
	// AnnotationInject opts a pod template, or every pod of a namespace, in (InjectEnabled)
	// or out (InjectDisabled). The pod's value wins over its namespace's.
	AnnotationInject = "meshfed.io/inject"
	InjectEnabled    = "enabled"
	InjectDisabled   = "disabled"

	// AnnotationInjected is set by Inject to Config.Version: a pod carrying it is left alone.
	AnnotationInjected = "meshfed.io/injected"

	// The proxy's resources, overriding Config.ProxyResources: quantities such as 100m, 64Mi.
	AnnotationProxyCPURequest    = "meshfed.io/proxy-cpu-request"
	AnnotationProxyMemoryRequest = "meshfed.io/proxy-memory-request"
	AnnotationProxyMemoryLimit   = "meshfed.io/proxy-memory-limit"

	// Traffic the proxy does not see, as `proxy init` takes it: comma-separated ports and
	// ranges (4190,9000-9010) or CIDRs (198.18.0.0/15). Inbound ports are skipped on top of
	// the proxy's own admin and control ports, which always are.
	AnnotationSkipInboundPorts  = "meshfed.io/skip-inbound-ports"
	AnnotationSkipOutboundPorts = "meshfed.io/skip-outbound-ports"
	AnnotationSkipOutboundCIDRs = "meshfed.io/skip-outbound-cidrs"

	// AnnotationProxyLogLevel is the proxy's log level, overriding Config.LogLevel: one of
	// LogLevels.
	AnnotationProxyLogLevel = "meshfed.io/proxy-log-level"
)

// The proxy's ports (DESIGN.md, "Names on the wire") and UID. A pod whose containers already
// declare one of the ports is not injected: the proxy could not listen there.
const (
	OutboundPort = iptables.DefaultOutboundPort
	InboundPort  = iptables.DefaultInboundPort
	AdminPort    = iptables.AdminPort
	ProxyUID     = iptables.DefaultProxyUID

	// Port names on the proxy container, at most 15 characters as Kubernetes requires.
	InboundPortName = "meshfed-inbound"
	AdminPortName   = "meshfed-admin"
)

// Environment variables of the proxy container, as `proxy run` reads them.
const (
	EnvTrustDomain    = "MESHFED_TRUST_DOMAIN"
	EnvNamespace      = "POD_NAMESPACE"
	EnvServiceAccount = "POD_SERVICE_ACCOUNT"
	EnvWorkload       = "MESHFED_WORKLOAD"
	EnvTrustBundle    = "MESHFED_TRUST_BUNDLE"
	// EnvTrustBundleCache is the file the proxy keeps the streamed bundle in.
	EnvTrustBundleCache = "MESHFED_TRUST_BUNDLE_CACHE"
	EnvLogLevel         = "MESHFED_LOG_LEVEL"
	// EnvPodLabels is the pod template's labels, a JSON object, which Servers' podSelectors
	// select. Labels the pod gets later (a Deployment's pod-template-hash) are not in it.
	EnvPodLabels = "MESHFED_POD_LABELS"
	// EnvPodPorts is the app containers' named TCP ports, a JSON object of name to
	// containerPort, which Servers may name.
	EnvPodPorts = "MESHFED_POD_PORTS"
)

// LogLevels are the proxy's log levels, as AnnotationProxyLogLevel and Config.LogLevel take
// them, and as `proxy run --log-level` reads them.
func LogLevels() []string { return []string{"debug", "info", "warn", "error"} }
