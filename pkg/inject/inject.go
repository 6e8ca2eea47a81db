package inject

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// Outcome is what Inject did, in a word fit for a metric's label.
type Outcome string

const (
	// Injected: the proxy was added.
	Injected Outcome = "injected"
	// NotEnabled: neither the pod template nor its namespace asks for the proxy.
	NotEnabled Outcome = "not-enabled"
	// Disabled: the pod template refuses the proxy.
	Disabled Outcome = "disabled"
	// AlreadyInjected: the pod has the proxy, or something of it, already.
	AlreadyInjected Outcome = "already-injected"
	// HostNetwork: the pod shares the node's network, whose traffic the init step would
	// redirect.
	HostNetwork Outcome = "host-network"
	// PortConflict: a container of the pod declares one of the proxy's ports.
	PortConflict Outcome = "port-conflict"
)

// Request is what Inject injects.
type Request struct {
	// Template is the pod's metadata and spec, or a workload's spec.template. Inject does
	// not change it.
	Template *corev1.PodTemplateSpec
	// Namespace and NamespaceAnnotations are the pod's namespace's, which may opt the pod
	// in. Both may be empty (`mesh inject` opts its objects in itself).
	Namespace            string
	NamespaceAnnotations map[string]string
	// Workload names the pod's workload in the proxy's metrics, as "deployment/web" (see
	// Workload and WorkloadOfPod).
	Workload string
}

// Result is what Inject did and why.
type Result struct {
	Outcome Outcome
	// Reason says why, for a person: set for every outcome but Injected.
	Reason string
	// Template is the injected copy of the request's template when the outcome is
	// Injected, nil otherwise: the pod is then to be left as it is.
	Template *corev1.PodTemplateSpec
}

// Asked reports whether the pod asked for the proxy but did not get it for a reason of its
// own (host network, a port taken): worth a warning to whoever made it, unlike a pod that
// did not ask.
func (r Result) Asked() bool { return r.Outcome == HostNetwork || r.Outcome == PortConflict }

// Inject adds the proxy to the request's template if it asks for it and can take it. An
// annotation value it does not take is an error (an *AnnotationError, or several joined),
// with no Result; cfg must have passed Validate.
func Inject(cfg Config, req Request) (Result, error) {
	tmpl := req.Template
	if outcome, why, err := optIn(tmpl.Annotations, req.NamespaceAnnotations, req.Namespace); err != nil || outcome != "" {
		return Result{Outcome: outcome, Reason: why}, err
	}
	if why := injectedAlready(tmpl); why != "" {
		return Result{Outcome: AlreadyInjected, Reason: why}, nil
	}
	if tmpl.Spec.HostNetwork {
		return Result{Outcome: HostNetwork, Reason: "the pod uses the node's network (hostNetwork: true): the proxy's iptables rules would take the node's traffic; such a pod runs without the proxy"}, nil
	}
	s, err := readSettings(cfg, tmpl.Annotations)
	if err != nil {
		return Result{}, err
	}
	if why := portConflict(&tmpl.Spec); why != "" {
		return Result{Outcome: PortConflict, Reason: why}, nil
	}

	out := tmpl.DeepCopy()
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	out.Annotations[AnnotationInjected] = cfg.Version
	initC, proxy := initContainer(cfg, s), proxyContainer(cfg, s, req.Workload)
	podEnv, err := podPolicyEnv(tmpl)
	if err != nil {
		return Result{}, err
	}
	proxy.Env = append(proxy.Env, podEnv...)
	if cfg.NativeSidecars {
		// meshfed-init first, so that nothing runs before the rules; then the proxy, whose
		// startup probe holds back the app's init containers and containers until it has
		// its certificate: they all reach the network through it.
		proxy.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		proxy.StartupProbe = adminProbe("/ready", 1, 120)
		out.Spec.InitContainers = append([]corev1.Container{initC, proxy}, out.Spec.InitContainers...)
	} else {
		// meshfed-init last: the app's own init containers run before the rules, so they
		// reach the network as they would without the mesh (no proxy runs yet to take their
		// traffic). The proxy first, so the kubelet starts it first.
		out.Spec.InitContainers = append(out.Spec.InitContainers, initC)
		if _, ok := out.Annotations[defaultContainerAnnotation]; !ok && len(out.Spec.Containers) > 0 {
			// kubectl logs and exec pick the first container unless told: the app, not
			// the proxy.
			out.Annotations[defaultContainerAnnotation] = out.Spec.Containers[0].Name
		}
		out.Spec.Containers = append([]corev1.Container{proxy}, out.Spec.Containers...)
	}
	out.Spec.Volumes = append(out.Spec.Volumes, tokenVolume(), corev1.Volume{
		Name:         XtablesLockVolumeName,
		VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}},
	}, corev1.Volume{
		Name:         TrustCacheVolumeName,
		VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("1Mi"))}},
	})
	return Result{Outcome: Injected, Template: out}, nil
}

// podPolicyEnv tells the proxy what inbound policy selects its pod by: the template's labels
// and the app containers' named TCP ports (the first container to use a name has it). JSON
// objects are written with their keys sorted, so that the same template gives the same
// env.
func podPolicyEnv(tmpl *corev1.PodTemplateSpec) ([]corev1.EnvVar, error) {
	labels := tmpl.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	ports := map[string]int32{}
	for _, c := range tmpl.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == "" || (p.Protocol != "" && p.Protocol != corev1.ProtocolTCP) {
				continue
			}
			if _, ok := ports[p.Name]; !ok {
				ports[p.Name] = p.ContainerPort
			}
		}
	}
	l, err := json.Marshal(labels)
	if err != nil {
		return nil, err
	}
	pp, err := json.Marshal(ports)
	if err != nil {
		return nil, err
	}
	return []corev1.EnvVar{{Name: EnvPodLabels, Value: string(l)}, {Name: EnvPodPorts, Value: string(pp)}}, nil
}

// defaultContainerAnnotation names the container kubectl logs and exec pick by default.
const defaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

// injectedAlready says how the template shows it was injected, or "".
func injectedAlready(tmpl *corev1.PodTemplateSpec) string {
	if v, ok := tmpl.Annotations[AnnotationInjected]; ok {
		return fmt.Sprintf("already injected (%s: %s)", AnnotationInjected, v)
	}
	for _, c := range allContainers(&tmpl.Spec) {
		if c.Name == ProxyContainerName || c.Name == InitContainerName {
			return "already has a container named " + c.Name
		}
	}
	for _, v := range tmpl.Spec.Volumes {
		if v.Name == TokenVolumeName || v.Name == XtablesLockVolumeName || v.Name == TrustCacheVolumeName {
			return "already has a volume named " + v.Name
		}
	}
	return ""
}

// portConflict names the first container that declares a port the proxy listens on, or "".
func portConflict(spec *corev1.PodSpec) string {
	proxyPorts := []int32{OutboundPort, InboundPort, AdminPort}
	for _, c := range allContainers(spec) {
		for _, p := range c.Ports {
			if slices.Contains(proxyPorts, p.ContainerPort) && (p.Protocol == "" || p.Protocol == corev1.ProtocolTCP) {
				return fmt.Sprintf("container %s declares port %d, which the proxy listens on (%d outbound, %d inbound, %d admin): move the container to another port to mesh this pod",
					c.Name, p.ContainerPort, OutboundPort, InboundPort, AdminPort)
			}
		}
	}
	return ""
}

func allContainers(spec *corev1.PodSpec) []corev1.Container {
	return slices.Concat(spec.InitContainers, spec.Containers)
}

func initContainer(cfg Config, s settings) corev1.Container {
	return corev1.Container{
		Name:            InitContainerName,
		Image:           cfg.ProxyImage,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Args:            s.initArgs(),
		Resources:       initResources(),
		// Root with NET_ADMIN and NET_RAW, as iptables needs, and nothing more: the rules
		// live in the pod's network namespace, not the node's.
		SecurityContext: &corev1.SecurityContext{
			Capabilities: &corev1.Capabilities{
				Add:  []corev1.Capability{"NET_ADMIN", "NET_RAW"},
				Drop: []corev1.Capability{"ALL"},
			},
			Privileged:               ptr.To(false),
			RunAsUser:                ptr.To[int64](0),
			RunAsNonRoot:             ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
		},
		VolumeMounts:             []corev1.VolumeMount{{Name: XtablesLockVolumeName, MountPath: "/run"}},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

func proxyContainer(cfg Config, s settings, workload string) corev1.Container {
	field := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}
	}
	return corev1.Container{
		Name:            ProxyContainerName,
		Image:           cfg.ProxyImage,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Args:            []string{"run"},
		Env: []corev1.EnvVar{
			{Name: EnvTrustDomain, Value: cfg.TrustDomain},
			{Name: EnvNamespace, ValueFrom: field("metadata.namespace")},
			{Name: EnvServiceAccount, ValueFrom: field("spec.serviceAccountName")},
			{Name: EnvWorkload, Value: workload},
			{Name: EnvLogLevel, Value: s.logLevel},
			{Name: EnvTrustBundle, Value: cfg.TrustBundle},
			{Name: EnvTrustBundleCache, Value: TrustCacheMountPath + "/" + TrustCacheFile},
		},
		Ports: []corev1.ContainerPort{
			{Name: InboundPortName, ContainerPort: InboundPort, Protocol: corev1.ProtocolTCP},
			{Name: AdminPortName, ContainerPort: AdminPort, Protocol: corev1.ProtocolTCP},
		},
		LivenessProbe:  adminProbe("/live", 10, 3),
		ReadinessProbe: adminProbe("/ready", 2, 3),
		Resources:      s.resources,
		SecurityContext: &corev1.SecurityContext{
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			RunAsUser:                ptr.To[int64](ProxyUID),
			RunAsNonRoot:             ptr.To(true),
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: TokenVolumeName, MountPath: TokenMountPath, ReadOnly: true},
			{Name: TrustCacheVolumeName, MountPath: TrustCacheMountPath},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

func adminProbe(path string, period, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: path, Port: intstr.FromString(AdminPortName), Scheme: corev1.URISchemeHTTP,
		}},
		PeriodSeconds:    period,
		FailureThreshold: failures,
		TimeoutSeconds:   1,
		SuccessThreshold: 1,
	}
}

func tokenVolume() corev1.Volume {
	return corev1.Volume{
		Name: TokenVolumeName,
		VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Audience:          TokenAudience,
				ExpirationSeconds: ptr.To[int64](TokenExpirationSeconds),
				Path:              TokenPath,
			}}},
		}},
	}
}

// Workload names a workload as the proxy's metrics do: "deployment/web".
func Workload(kind, name string) string { return strings.ToLower(kind) + "/" + name }
