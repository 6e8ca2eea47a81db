package inject

import (
	"flag"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/meshfed/internal/golden"
	"github.com/meshfed/meshfed/pkg/identity"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestOutcomes(t *testing.T) {
	nsEnabled := map[string]string{AnnotationInject: InjectEnabled}
	nsDisabled := map[string]string{AnnotationInject: InjectDisabled}
	tests := []struct {
		name      string
		tmpl      *corev1.PodTemplateSpec
		namespace map[string]string
		want      Outcome
		reason    string
	}{
		{"pod enabled", template(enabled), nil, Injected, ""},
		{"namespace enabled", template(), nsEnabled, Injected, ""},
		{"pod enabled in a disabled namespace", template(enabled), nsDisabled, Injected, ""},
		{"pod disabled in an enabled namespace", template(annotated(AnnotationInject, InjectDisabled)), nsEnabled, Disabled, "the pod template has meshfed.io/inject: disabled"},
		{"namespace disabled", template(), nsDisabled, NotEnabled, "its namespace has meshfed.io/inject: disabled"},
		{"nothing", template(), nil, NotEnabled, "neither the pod template nor its namespace has meshfed.io/inject: enabled"},
		{"another annotation's value is not read when not enabled", template(annotated(AnnotationProxyCPURequest, "lots")), nil, NotEnabled, ""},
		{"injected annotation", template(enabled, annotated(AnnotationInjected, "v0.1.0")), nil, AlreadyInjected, "already injected (meshfed.io/injected: v0.1.0)"},
		{"proxy container", template(enabled, func(t *corev1.PodTemplateSpec) { t.Spec.Containers[0].Name = ProxyContainerName }), nil, AlreadyInjected, "already has a container named meshfed-proxy"},
		{"init container", template(enabled, withInitContainer(InitContainerName)), nil, AlreadyInjected, "already has a container named meshfed-init"},
		{"token volume", template(enabled, func(t *corev1.PodTemplateSpec) { t.Spec.Volumes = []corev1.Volume{{Name: TokenVolumeName}} }), nil, AlreadyInjected, "already has a volume named meshfed-identity-token"},
		{"host network", template(enabled, func(t *corev1.PodTemplateSpec) { t.Spec.HostNetwork = true }), nil, HostNetwork, "hostNetwork: true"},
		{"admin port taken", template(enabled, withPort(0, AdminPort, "")), nil, PortConflict, "container web declares port 4191, which the proxy listens on"},
		{"inbound port taken", template(enabled, withPort(0, InboundPort, corev1.ProtocolTCP)), nil, PortConflict, "port 4143"},
		{"outbound port taken by an init container", template(enabled, withInitContainer("setup"), func(t *corev1.PodTemplateSpec) {
			t.Spec.InitContainers[0].Ports = []corev1.ContainerPort{{ContainerPort: OutboundPort}}
		}), nil, PortConflict, "container setup declares port 4140"},
		{"a UDP port is no conflict", template(enabled, withPort(0, InboundPort, corev1.ProtocolUDP)), nil, Injected, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.tmpl.DeepCopy()
			res, err := Inject(testConfig(t), Request{Template: tt.tmpl, Namespace: "shop", NamespaceAnnotations: tt.namespace, Workload: "deployment/web"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != tt.want || !strings.Contains(res.Reason, tt.reason) {
				t.Errorf("outcome %q reason %q, want %q with %q", res.Outcome, res.Reason, tt.want, tt.reason)
			}
			if (res.Template != nil) != (tt.want == Injected) {
				t.Errorf("outcome %s with template %v", res.Outcome, res.Template != nil)
			}
			if tt.want != Injected && res.Reason == "" {
				t.Error("no reason given for not injecting")
			}
			if !apiequality.Semantic.DeepEqual(before, tt.tmpl) {
				t.Error("Inject changed the template it was given")
			}
			if res.Asked() != (tt.want == HostNetwork || tt.want == PortConflict) {
				t.Errorf("Asked() = %v for %s", res.Asked(), res.Outcome)
			}
		})
	}
}

func TestBadAnnotations(t *testing.T) {
	tests := []struct {
		name      string
		tmpl      *corev1.PodTemplateSpec
		namespace map[string]string
		want      []string
	}{
		{"inject", template(annotated(AnnotationInject, "yes")), nil,
			[]string{`annotation meshfed.io/inject: "yes"; it takes enabled or disabled`}},
		{"namespace inject", template(), map[string]string{AnnotationInject: "true"},
			[]string{`annotation meshfed.io/inject of namespace shop: "true"; it takes enabled or disabled`}},
		{"cpu", template(enabled, annotated(AnnotationProxyCPURequest, "lots")), nil,
			[]string{`annotation meshfed.io/proxy-cpu-request: "lots": not a quantity`, "it takes a quantity such as 100m or 0.5"}},
		{"negative memory", template(enabled, annotated(AnnotationProxyMemoryRequest, "-1Mi")), nil,
			[]string{`annotation meshfed.io/proxy-memory-request: "-1Mi": it is negative; it takes a quantity such as 64Mi`}},
		{"request over the default limit", template(enabled, annotated(AnnotationProxyMemoryRequest, "1Gi")), nil,
			[]string{"memory request 1Gi exceeds its limit 256Mi: raise the limit or lower the request"}},
		{"limit under the default request", template(enabled, annotated(AnnotationProxyMemoryLimit, "10Mi")), nil,
			[]string{"memory request 20Mi exceeds its limit 10Mi"}},
		{"log level", template(enabled, annotated(AnnotationProxyLogLevel, "verbose")), nil,
			[]string{`annotation meshfed.io/proxy-log-level: "verbose"; it takes one of debug, info, warn, error`}},
		{"inbound ports", template(enabled, annotated(AnnotationSkipInboundPorts, "http")), nil,
			[]string{`annotation meshfed.io/skip-inbound-ports: "http": port list "http": "http" is not a port number`, "it takes comma-separated ports and ranges"}},
		{"the proxy's inbound port skipped", template(enabled, annotated(AnnotationSkipInboundPorts, "4000-4200")), nil,
			[]string{"make rules `proxy init` refuses", "4000-4200 holds the proxy's inbound port 4143"}},
		{"outbound range", template(enabled, annotated(AnnotationSkipOutboundPorts, "90-80")), nil,
			[]string{`annotation meshfed.io/skip-outbound-ports: "90-80"`, "ends before it starts"}},
		{"CIDR", template(enabled, annotated(AnnotationSkipOutboundCIDRs, "10.0.0.1")), nil,
			[]string{`annotation meshfed.io/skip-outbound-cidrs: "10.0.0.1"`, "is not a CIDR", "it takes comma-separated IPv4 CIDRs"}},
		{"IPv6 CIDR", template(enabled, annotated(AnnotationSkipOutboundCIDRs, "fd00::/8")), nil,
			[]string{"fd00::/8 is IPv6 but IPv6 rules are off"}},
		{"every bad one at once", template(enabled, annotated(AnnotationProxyLogLevel, "loud", AnnotationProxyMemoryLimit, "much")), nil,
			[]string{AnnotationProxyLogLevel, AnnotationProxyMemoryLimit}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Inject(testConfig(t), Request{Template: tt.tmpl, Namespace: "shop", NamespaceAnnotations: tt.namespace})
			if err == nil {
				t.Fatalf("no error; outcome %s", res.Outcome)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant it to hold %q", err, w)
				}
			}
			if res.Template != nil {
				t.Error("a template returned with an error")
			}
		})
	}
}

func TestInjectGolden(t *testing.T) {
	tuned := annotated(
		AnnotationProxyCPURequest, "100m",
		AnnotationProxyMemoryRequest, "64Mi",
		AnnotationProxyMemoryLimit, "512Mi",
		AnnotationProxyLogLevel, "debug",
		AnnotationSkipInboundPorts, "9000-9010,4191",
		AnnotationSkipOutboundPorts, "25, 3306",
		AnnotationSkipOutboundCIDRs, "198.18.0.0/15,10.1.2.3/32",
	)
	tests := []struct {
		name   string
		native bool
		tmpl   *corev1.PodTemplateSpec
	}{
		{"native", true, template(enabled, withInitContainer("migrate"))},
		{"classic", false, template(enabled, withInitContainer("migrate"))},
		{"tuned", true, template(enabled, tuned)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.NativeSidecars = tt.native
			res, err := Inject(cfg, Request{Template: tt.tmpl, Namespace: "shop", Workload: "deployment/web"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != Injected {
				t.Fatalf("%s: %s", res.Outcome, res.Reason)
			}
			b, err := yaml.Marshal(res.Template)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", tt.name+".golden"), string(b), *update)

			// The same input makes the same pod, and an injected pod is left alone.
			again, _ := Inject(cfg, Request{Template: tt.tmpl, Namespace: "shop", Workload: "deployment/web"})
			if !apiequality.Semantic.DeepEqual(again.Template, res.Template) {
				t.Error("a second Inject of the same template differs")
			}
			twice, err := Inject(cfg, Request{Template: res.Template, Namespace: "shop"})
			if err != nil || twice.Outcome != AlreadyInjected {
				t.Errorf("injecting an injected template: %s %v", twice.Outcome, err)
			}
		})
	}
}

// The order of the containers is what makes the proxy run before the app.
func TestContainerOrder(t *testing.T) {
	names := func(cs []corev1.Container) (out []string) {
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}
	tests := []struct {
		native                bool
		wantInit, wantContain string
	}{
		{true, "meshfed-init meshfed-proxy migrate", "web"},
		{false, "migrate meshfed-init", "meshfed-proxy web"},
	}
	for _, tt := range tests {
		cfg := testConfig(t)
		cfg.NativeSidecars = tt.native
		res, err := Inject(cfg, Request{Template: template(enabled, withInitContainer("migrate"))})
		if err != nil {
			t.Fatal(err)
		}
		spec := res.Template.Spec
		if got := strings.Join(names(spec.InitContainers), " "); got != tt.wantInit {
			t.Errorf("native %v: init containers %s, want %s", tt.native, got, tt.wantInit)
		}
		if got := strings.Join(names(spec.Containers), " "); got != tt.wantContain {
			t.Errorf("native %v: containers %s, want %s", tt.native, got, tt.wantContain)
		}
		for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
			sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
			if sidecar != (tt.native && c.Name == ProxyContainerName) {
				t.Errorf("native %v: container %s has restartPolicy %v", tt.native, c.Name, c.RestartPolicy)
			}
		}
		if !tt.native && res.Template.Annotations[defaultContainerAnnotation] != "web" {
			t.Errorf("classic: %s is %q, want the app's container", defaultContainerAnnotation, res.Template.Annotations[defaultContainerAnnotation])
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"ok", func(*Config) {}, ""},
		{"no image", func(c *Config) { c.ProxyImage = "" }, "proxy image \"\""},
		{"bad trust domain", func(c *Config) { c.TrustDomain = "West" }, "trust domain:"},
		{"no bundle", func(c *Config) { c.TrustBundle = "" }, "trust bundle is empty: give the PEM of the ConfigMap mesh-system/meshfed-trust-bundle (key ca-bundle.crt)"},
		{"bad bundle", func(c *Config) { c.TrustBundle = "not PEM" }, "trust bundle:"},
		{"no version", func(c *Config) { c.Version = "" }, "version is empty"},
		{"log level", func(c *Config) { c.LogLevel = "trace" }, `log level "trace": use one of debug, info, warn, error`},
		{"resources", func(c *Config) {
			c.ProxyResources.Limits[corev1.ResourceMemory] = c.ProxyResources.Requests[corev1.ResourceMemory]
			c.ProxyResources.Requests[corev1.ResourceMemory] = c.ProxyResources.Limits[corev1.ResourceMemory]
			c.ProxyResources.Limits[corev1.ResourceCPU] = c.ProxyResources.Requests[corev1.ResourceCPU]
			c.ProxyResources.Requests[corev1.ResourceCPU] = c.ProxyResources.Requests[corev1.ResourceMemory]
		}, "cpu request 20Mi exceeds its limit 10m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig(t)
			tt.mod(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one holding %q", err, tt.want)
			}
		})
	}
}

func TestTokenAudienceIsTheIdentityServices(t *testing.T) {
	if TokenAudience != identity.Audience {
		t.Errorf("TokenAudience %q, the identity service checks %q", TokenAudience, identity.Audience)
	}
}

func TestPodPolicyEnv(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "web", Ports: []corev1.ContainerPort{
				{Name: "http", ContainerPort: 8080},
				{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
				{ContainerPort: 9000},
			}},
			{Name: "metrics", Ports: []corev1.ContainerPort{
				{Name: "prom", ContainerPort: 9090, Protocol: corev1.ProtocolTCP},
				{Name: "http", ContainerPort: 8081},
			}},
		}},
	}
	env, err := podPolicyEnv(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	want := []corev1.EnvVar{
		{Name: EnvPodLabels, Value: `{"app":"web","tier":"front"}`},
		{Name: EnvPodPorts, Value: `{"http":8080,"prom":9090}`},
	}
	if !apiequality.Semantic.DeepEqual(env, want) {
		t.Errorf("env = %+v; want %+v", env, want)
	}
}
