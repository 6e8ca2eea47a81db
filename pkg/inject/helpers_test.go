package inject

import (
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// testConfig is the config of the tests: a real bundle, so that it validates.
func testConfig(t testing.TB) Config {
	t.Helper()
	bundle, err := os.ReadFile("testdata/bundle.pem")
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		ProxyImage:     "ghcr.io/meshfed/proxy:dev",
		TrustDomain:    "west.meshfed.local",
		TrustBundle:    string(bundle),
		NativeSidecars: true,
		Version:        "dev",
		ProxyResources: DefaultProxyResources(),
		LogLevel:       DefaultLogLevel,
	}
}

// template is a web server's pod template, changed by mods.
func template(mods ...func(*corev1.PodTemplateSpec)) *corev1.PodTemplateSpec {
	t := &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			ServiceAccountName: "web",
			Containers: []corev1.Container{{
				Name:  "web",
				Image: "ghcr.io/example/web:1.0",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			}},
		},
	}
	for _, m := range mods {
		m(t)
	}
	return t
}

func annotated(kv ...string) func(*corev1.PodTemplateSpec) {
	return func(t *corev1.PodTemplateSpec) {
		if t.Annotations == nil {
			t.Annotations = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			t.Annotations[kv[i]] = kv[i+1]
		}
	}
}

func enabled(t *corev1.PodTemplateSpec) { annotated(AnnotationInject, InjectEnabled)(t) }

func withInitContainer(name string) func(*corev1.PodTemplateSpec) {
	return func(t *corev1.PodTemplateSpec) {
		t.Spec.InitContainers = append(t.Spec.InitContainers, corev1.Container{Name: name, Image: "busybox", Command: []string{"true"}})
	}
}

func withPort(container int, port int32, proto corev1.Protocol) func(*corev1.PodTemplateSpec) {
	return func(t *corev1.PodTemplateSpec) {
		c := &t.Spec.Containers[container]
		c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: port, Protocol: proto})
	}
}
