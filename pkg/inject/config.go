package inject

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/meshfed/meshfed/pkg/trust"
)

// Config is what every pod injected by one injector shares.
type Config struct {
	// ProxyImage runs both meshfed-init (`proxy init`) and meshfed-proxy (`proxy run`).
	ProxyImage string
	// TrustDomain is the cluster's, as its issuer was made for.
	TrustDomain string
	// TrustBundle is the PEM of the anchors the proxy trusts, the data of the ConfigMap
	// mesh-system/meshfed-trust-bundle. It is written into the pod as a value: a ConfigMap
	// volume cannot reach across namespaces. It is what the proxy starts with: after that the
	// proxy follows the identity service's trust stream, so a rotation needs no new pod.
	TrustBundle string
	// NativeSidecars makes the proxy an init container with restartPolicy Always
	// (Kubernetes 1.29 and later), so the app's containers start once the proxy is ready
	// and a Job's pod ends when its app does. Otherwise the proxy is the first container.
	NativeSidecars bool
	// Version is written to the annotation meshfed.io/injected: the proxy's version.
	Version string
	// ProxyResources are the proxy's unless the pod's annotations say otherwise.
	ProxyResources corev1.ResourceRequirements
	// LogLevel is the proxy's unless the pod's annotation says otherwise: one of LogLevels.
	LogLevel string
}

// DefaultProxyResources are a small proxy's: a few hundred requests a second fit in them.
// The memory limit guards the node against a leak, not the proxy against its load.
func DefaultProxyResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("10m"),
			corev1.ResourceMemory: resource.MustParse("20Mi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceMemory: resource.MustParse("256Mi"),
		},
	}
}

// initResources are meshfed-init's: it runs iptables-restore once and exits.
func initResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("10m"),
			corev1.ResourceMemory: resource.MustParse("10Mi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceMemory: resource.MustParse("64Mi"),
		},
	}
}

// DefaultLogLevel is the proxy's log level unless told otherwise.
const DefaultLogLevel = "info"

// Validate says what is wrong with c, every problem at once. Inject does not check its
// Config: callers validate it once, when they make it and when its bundle changes.
func (c Config) Validate() error {
	err := c.ValidateStatic()
	if c.TrustBundle == "" {
		return errors.Join(err, fmt.Errorf("trust bundle is empty: give the PEM of the ConfigMap %s/%s (key %s)", trust.Namespace, trust.BundleConfigMapName, trust.BundleKey))
	}
	if _, berr := trust.ParseBundle([]byte(c.TrustBundle)); berr != nil {
		return errors.Join(err, fmt.Errorf("trust bundle: %w", berr))
	}
	return err
}

// ValidateStatic is Validate but for the trust bundle: what a webhook checks when it starts,
// before it has read the bundle (which it checks as it reads it).
func (c Config) ValidateStatic() error {
	var errs []error
	if strings.TrimSpace(c.ProxyImage) == "" || strings.ContainsAny(c.ProxyImage, " \t\n") {
		errs = append(errs, fmt.Errorf("proxy image %q: want an image reference such as ghcr.io/meshfed/proxy:v0.1.0", c.ProxyImage))
	}
	if err := trust.ValidateTrustDomain(c.TrustDomain); err != nil {
		errs = append(errs, fmt.Errorf("trust domain: %w", err))
	}
	if c.Version == "" {
		errs = append(errs, errors.New("version is empty: it is written to the annotation "+AnnotationInjected))
	}
	if !slices.Contains(LogLevels(), c.LogLevel) {
		errs = append(errs, fmt.Errorf("log level %q: use one of %s", c.LogLevel, strings.Join(LogLevels(), ", ")))
	}
	if err := requestsWithinLimits(c.ProxyResources); err != nil {
		errs = append(errs, fmt.Errorf("proxy resources: %w", err))
	}
	return errors.Join(errs...)
}

// requestsWithinLimits checks what the apiserver would refuse the pod for.
func requestsWithinLimits(r corev1.ResourceRequirements) error {
	var errs []error
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := r.Requests[name]
		lim, hasLim := r.Limits[name]
		if hasReq && req.Sign() < 0 || hasLim && lim.Sign() < 0 {
			errs = append(errs, fmt.Errorf("%s is negative", name))
		}
		if hasReq && hasLim && req.Cmp(lim) > 0 {
			errs = append(errs, fmt.Errorf("%s request %s exceeds its limit %s", name, req.String(), lim.String()))
		}
	}
	return errors.Join(errs...)
}
