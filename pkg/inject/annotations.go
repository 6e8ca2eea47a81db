package inject

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/meshfed/meshfed/pkg/proxy/iptables"
)

// AnnotationError is an annotation whose value Inject does not take. Its message names the
// annotation, the value and what it takes instead, for a person to fix it.
type AnnotationError struct {
	// Annotation is the annotation's key; Namespace is set when it is the namespace's.
	Annotation, Namespace string
	Value                 string
	// Accepted says what the annotation takes, such as "enabled or disabled".
	Accepted string
	// Err is what was wrong with the value, when there is more to say than Accepted.
	Err error
}

func (e *AnnotationError) Error() string {
	where := "annotation " + e.Annotation
	if e.Namespace != "" {
		where += " of namespace " + e.Namespace
	}
	msg := fmt.Sprintf("%s: %q", where, e.Value)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg + "; it takes " + e.Accepted
}

func (e *AnnotationError) Unwrap() error { return e.Err }

// optIn reads AnnotationInject of the pod template and its namespace. It returns the
// outcome and reason when the pod is not to be injected, "" when it is.
func optIn(pod, namespace map[string]string, nsName string) (Outcome, string, error) {
	const accepted = InjectEnabled + " or " + InjectDisabled
	v, ok := pod[AnnotationInject]
	switch {
	case ok && v == InjectEnabled:
		return "", "", nil
	case ok && v == InjectDisabled:
		return Disabled, "the pod template has " + AnnotationInject + ": " + InjectDisabled, nil
	case ok:
		return "", "", &AnnotationError{Annotation: AnnotationInject, Value: v, Accepted: accepted}
	}
	switch v, ok := namespace[AnnotationInject]; {
	case ok && v == InjectEnabled:
		return "", "", nil
	case ok && v == InjectDisabled:
		return NotEnabled, "its namespace has " + AnnotationInject + ": " + InjectDisabled + " and the pod template does not enable it", nil
	case ok:
		return "", "", &AnnotationError{Annotation: AnnotationInject, Namespace: nsName, Value: v, Accepted: accepted}
	}
	return NotEnabled, "neither the pod template nor its namespace has " + AnnotationInject + ": " + InjectEnabled, nil
}

// settings are what a pod's annotations tune, on top of the Config.
type settings struct {
	resources    corev1.ResourceRequirements
	logLevel     string
	skipInbound  []iptables.PortRange
	skipOutbound []iptables.PortRange
	skipCIDRs    []netip.Prefix
}

// alwaysSkippedInbound are the inbound ports `proxy init` skips by default: the proxy's
// admin port (the kubelet's probes and Prometheus reach it as they are) and its control
// port. Passing --skip-inbound-ports replaces the default, so they are always passed too.
func alwaysSkippedInbound() []iptables.PortRange {
	return []iptables.PortRange{iptables.Port(iptables.ControlPort), iptables.Port(iptables.AdminPort)}
}

// readSettings reads the tuning annotations, reporting every bad one at once.
func readSettings(cfg Config, ann map[string]string) (settings, error) {
	s := settings{resources: *cfg.ProxyResources.DeepCopy(), logLevel: cfg.LogLevel, skipInbound: alwaysSkippedInbound()}
	var errs []error
	quantity := func(key string, list *corev1.ResourceList, name corev1.ResourceName, example string) {
		v, ok := ann[key]
		if !ok {
			return
		}
		q, err := resource.ParseQuantity(v)
		switch {
		case err != nil:
			err = errors.New("not a quantity") // the parser's own error is a regular expression
		case q.Sign() < 0:
			err = errors.New("it is negative")
		}
		if err != nil {
			errs = append(errs, &AnnotationError{Annotation: key, Value: v, Accepted: "a quantity such as " + example, Err: err})
			return
		}
		if *list == nil {
			*list = corev1.ResourceList{}
		}
		(*list)[name] = q
	}
	quantity(AnnotationProxyCPURequest, &s.resources.Requests, corev1.ResourceCPU, "100m or 0.5")
	quantity(AnnotationProxyMemoryRequest, &s.resources.Requests, corev1.ResourceMemory, "64Mi")
	quantity(AnnotationProxyMemoryLimit, &s.resources.Limits, corev1.ResourceMemory, "256Mi")
	if len(errs) == 0 {
		if err := requestsWithinLimits(s.resources); err != nil {
			errs = append(errs, fmt.Errorf("the proxy's resources, from the defaults and the annotations %s, %s and %s: %w: raise the limit or lower the request",
				AnnotationProxyCPURequest, AnnotationProxyMemoryRequest, AnnotationProxyMemoryLimit, err))
		}
	}

	if v, ok := ann[AnnotationProxyLogLevel]; ok {
		if slices.Contains(LogLevels(), v) {
			s.logLevel = v
		} else {
			errs = append(errs, &AnnotationError{Annotation: AnnotationProxyLogLevel, Value: v, Accepted: "one of " + strings.Join(LogLevels(), ", ")})
		}
	}

	const portsAccepted = "comma-separated ports and ranges, such as 25,3306-3307"
	if v, ok := ann[AnnotationSkipInboundPorts]; ok {
		rs, err := iptables.ParsePorts(v)
		if err != nil {
			errs = append(errs, &AnnotationError{Annotation: AnnotationSkipInboundPorts, Value: v, Accepted: portsAccepted, Err: err})
		}
		for _, r := range rs {
			if !slices.Contains(s.skipInbound, r) {
				s.skipInbound = append(s.skipInbound, r)
			}
		}
	}
	if v, ok := ann[AnnotationSkipOutboundPorts]; ok {
		rs, err := iptables.ParsePorts(v)
		if err != nil {
			errs = append(errs, &AnnotationError{Annotation: AnnotationSkipOutboundPorts, Value: v, Accepted: portsAccepted, Err: err})
		}
		s.skipOutbound = rs
	}
	if v, ok := ann[AnnotationSkipOutboundCIDRs]; ok {
		ps, err := iptables.ParseCIDRs(v)
		if err != nil {
			errs = append(errs, &AnnotationError{Annotation: AnnotationSkipOutboundCIDRs, Value: v, Accepted: "comma-separated IPv4 CIDRs, such as 198.18.0.0/15,10.0.0.1/32", Err: err})
		}
		s.skipCIDRs = ps
	}
	if len(errs) > 0 {
		return settings{}, errors.Join(errs...)
	}
	// What `proxy init` would refuse, refused now: a pod whose init step fails never starts.
	if err := s.iptablesConfig().Validate(); err != nil {
		return settings{}, fmt.Errorf("the annotations %s, %s and %s make rules `proxy init` refuses: %w",
			AnnotationSkipInboundPorts, AnnotationSkipOutboundPorts, AnnotationSkipOutboundCIDRs, err)
	}
	return s, nil
}

func (s settings) iptablesConfig() iptables.Config {
	c := iptables.DefaultConfig()
	c.SkipInboundPorts, c.SkipOutboundPorts, c.SkipOutboundCIDRs = s.skipInbound, s.skipOutbound, s.skipCIDRs
	return c
}

// initArgs are `proxy init`'s flags for s. The UID is passed although it is the default, so
// that the manifest shows what ties the two containers together.
func (s settings) initArgs() []string {
	args := []string{"init", fmt.Sprintf("--proxy-uid=%d", ProxyUID), "--skip-inbound-ports=" + iptables.FormatPorts(s.skipInbound)}
	if len(s.skipOutbound) > 0 {
		args = append(args, "--skip-outbound-ports="+iptables.FormatPorts(s.skipOutbound))
	}
	if len(s.skipCIDRs) > 0 {
		cidrs := make([]string, len(s.skipCIDRs))
		for i, p := range s.skipCIDRs {
			cidrs[i] = p.String()
		}
		args = append(args, "--skip-outbound-cidrs="+strings.Join(cidrs, ","))
	}
	return args
}
