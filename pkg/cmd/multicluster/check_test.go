package multicluster

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

func linkCRD(established bool) *unstructured.Unstructured {
	status := "False"
	if established {
		status = "True"
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": LinkCRDName},
		"status": map[string]any{"conditions": []any{
			map[string]any{"type": "NamesAccepted", "status": "True"},
			map[string]any{"type": "Established", "status": status},
		}},
	}}
}

func controller(available bool) *appsv1.Deployment {
	status := corev1.ConditionFalse
	var ready int32
	if available {
		status, ready = corev1.ConditionTrue, 1
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: ControllerName},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](1)},
		Status: appsv1.DeploymentStatus{
			AvailableReplicas: ready,
			Conditions:        []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: status}},
		},
	}
}

func credentials(t *testing.T, cluster, host string) *corev1.Secret {
	t.Helper()
	kc, err := readerKubeconfig(cluster, host, []byte("READER-TOKEN"), []byte("CA"))
	if err != nil {
		t.Fatal(err)
	}
	s := opaqueSecret(CredentialsSecretName(cluster))
	s.Data = map[string][]byte{mcv1alpha1.CredentialsKey: kc}
	return s
}

func serviceExport(ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(mcsv1alpha1.SchemeGroupVersion.String())
	u.SetKind("ServiceExport")
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// world is west, which links to east: what each holds, and how east's API server answers.
type world struct {
	west, westDyn []runtime.Object
	east, eastDyn []runtime.Object
	// allowed is what east's authorizer allows the credentials beyond reading, such as
	// "create services".
	allowed map[string]bool
	// eastFails makes every request of this verb and resource to east fail.
	eastFails map[[2]string]error
}

const eastCredHost = "https://198.18.0.2:6443"

// healthy is a world where every check passes: east exports web (label), api (flat label)
// and db (ServiceExport); west has their mirrors.
func healthy(t *testing.T) *world {
	return &world{
		west: []runtime.Object{
			controller(true), readerToken(), credentials(t, "east", eastCredHost),
			service("shop", "web-east", mirrorLabels("east", "web")),
			service("apps", "api-east", mirrorLabels("east", "api")),
			service("data", "db-east", mirrorLabels("east", "db")),
			service("apps", "local", nil),
		},
		westDyn: []runtime.Object{linkCRD(true), toUnstructured(t, newLink("east"))},
		east: []runtime.Object{
			service("shop", "web", map[string]string{mcv1alpha1.LabelExported: mcv1alpha1.ExportedGateway, "tier": "front"}),
			service("apps", "api", map[string]string{mcv1alpha1.LabelExported: mcv1alpha1.ExportedRemoteDiscovery}),
			service("data", "db", nil),
			service("data", "internal", map[string]string{mcv1alpha1.LabelExported: "false"}),
		},
		eastDyn: []runtime.Object{serviceExport("data", "db")},
	}
}

func (w *world) factory() *fakeFactory {
	west := newCluster(westHost, w.west, w.westDyn...)
	east := newCluster(eastCredHost, w.east, w.eastDyn...)
	east.kube.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
		attrs := r.Spec.ResourceAttributes
		r.Status.Allowed = w.allowed[attrs.Verb+" "+qualified(attrs.Group, attrs.Resource)]
		return true, r, nil
	})
	for vr, err := range w.eastFails {
		east.kube.PrependReactor(vr[0], vr[1], func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, err })
		east.dyn.PrependReactor(vr[0], vr[1], func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, err })
	}
	return newFactory(&rest.Config{Host: westHost}, west, east)
}

// results runs check -o json and returns its report, by "category: description".
func results(t *testing.T, f *fakeFactory) (CheckReport, map[string]CheckResult, error) {
	t.Helper()
	out, stderr, err := run(f, "check", "-o", "json")
	var report CheckReport
	if jerr := json.Unmarshal([]byte(out), &report); jerr != nil {
		t.Fatalf("%v: stdout %q stderr %q", jerr, out, stderr)
	}
	byName := map[string]CheckResult{}
	for _, c := range report.Categories {
		for _, ch := range c.Checks {
			byName[c.Name+": "+ch.Description] = ch
		}
	}
	return report, byName, err
}

const (
	cCRD        = "multicluster: the Link CRD is installed"
	cController = "multicluster: the link controller is available"
	cToken      = "multicluster: other clusters can link to this one: the remote reader's token is ready"
	cLinks      = "multicluster: the Links can be read"
	cCreds      = "link east (cluster east): the credentials Secret exists and parses"
	cAnswers    = "link east (cluster east): cluster east answers with the Link's credentials"
	cReadOnly   = "link east (cluster east): the credentials are read-only in cluster east"
	cGateway    = "link east (cluster east): the gateway of east answers the link controller's probe"
	cIdentity   = "link east (cluster east): the gateway of east shows its identity over TLS 1.3, chained to this cluster's anchors"
	cMirrored   = "link east (cluster east): every Service east exports has its mirror here"
	cOrphans    = "link east (cluster east): every mirror of east here has its export there"
)

var allChecks = []string{cCRD, cController, cToken, cLinks, cCreds, cAnswers, cReadOnly, cGateway, cIdentity, cMirrored, cOrphans}

func TestCheck(t *testing.T) {
	forbidden := apierrors.NewForbidden(corev1.Resource("pods"), "", errors.New(`User "system:serviceaccount:mesh-multicluster:remote-reader" cannot list resource "pods"`))
	tests := []struct {
		name string
		mod  func(*testing.T, *world)
		// fail maps each check that must fail to a part of its error; every other check in
		// run must pass.
		fail map[string]string
		// run lists the checks that run; nil: all of them.
		run []string
	}{
		{name: "healthy", mod: func(*testing.T, *world) {}},
		{
			name: "no CRD",
			mod:  func(_ *testing.T, w *world) { w.westDyn = w.westDyn[1:] },
			fail: map[string]string{cCRD: "no CustomResourceDefinition links.multicluster.meshfed.io"},
			run:  []string{cCRD},
		},
		{
			name: "CRD not established",
			mod:  func(_ *testing.T, w *world) { w.westDyn[0] = linkCRD(false) },
			fail: map[string]string{cCRD: "is not established yet"},
			run:  []string{cCRD},
		},
		{
			name: "controller unavailable",
			mod:  func(_ *testing.T, w *world) { w.west[0] = controller(false) },
			fail: map[string]string{cController: "the Deployment mesh-multicluster/link-controller has 0 of 1 replicas available"},
		},
		{
			name: "controller missing, reader token not filled",
			mod: func(_ *testing.T, w *world) {
				w.west[0] = service("x", "y", nil)
				w.west[1] = readerToken(func(s *corev1.Secret) { s.Data = nil })
			},
			fail: map[string]string{
				cController: "no Deployment mesh-multicluster/link-controller",
				cToken:      "has no token or ca.crt yet",
			},
		},
		{
			name: "credentials Secret missing",
			mod:  func(_ *testing.T, w *world) { w.west[2] = service("x", "y", nil) },
			fail: map[string]string{cCreds: "the Link's credentials Secret mesh-multicluster/cluster-credentials-east does not exist"},
			run:  []string{cCRD, cController, cToken, cLinks, cCreds},
		},
		{
			name: "credentials Secret without its key",
			mod: func(_ *testing.T, w *world) {
				w.west[2].(*corev1.Secret).Data = map[string][]byte{"config": []byte("x")}
			},
			fail: map[string]string{cCreds: `the Secret mesh-multicluster/cluster-credentials-east has no key "kubeconfig"`},
			run:  []string{cCRD, cController, cToken, cLinks, cCreds},
		},
		{
			name: "kubeconfig does not parse",
			mod: func(_ *testing.T, w *world) {
				w.west[2].(*corev1.Secret).Data[mcv1alpha1.CredentialsKey] = []byte("clusters: {")
			},
			fail: map[string]string{cCreds: "the kubeconfig does not parse"},
			run:  []string{cCRD, cController, cToken, cLinks, cCreds},
		},
		{
			name: "kubeconfig runs a command",
			mod: func(_ *testing.T, w *world) {
				w.west[2].(*corev1.Secret).Data[mcv1alpha1.CredentialsKey] = []byte(`apiVersion: v1
kind: Config
clusters: [{name: east, cluster: {server: "https://198.18.0.2:6443"}}]
users: [{name: east, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/steal}}}]
contexts: [{name: east, context: {cluster: east, user: east}}]
current-context: east
`)
			},
			fail: map[string]string{cCreds: `the kubeconfig's user "east" runs a command (exec "/bin/steal")`},
			run:  []string{cCRD, cController, cToken, cLinks, cCreds},
		},
		{
			name: "remote unreachable",
			mod: func(_ *testing.T, w *world) {
				w.eastFails = map[[2]string]error{{"list", "services"}: errors.New("dial tcp 198.18.0.2:6443: connect: no route to host")}
			},
			fail: map[string]string{cAnswers: "listing Services in east at https://198.18.0.2:6443: dial tcp 198.18.0.2:6443: connect: no route to host"},
			run:  []string{cCRD, cController, cToken, cLinks, cCreds, cAnswers},
		},
		{
			name: "credentials cannot read pods",
			mod: func(_ *testing.T, w *world) {
				w.eastFails = map[[2]string]error{{"list", "pods"}: forbidden}
			},
			fail: map[string]string{cAnswers: `listing Pods in east at https://198.18.0.2:6443: pods is forbidden`},
			run:  []string{cCRD, cController, cToken, cLinks, cCreds, cAnswers},
		},
		{
			name: "credentials may write",
			mod: func(_ *testing.T, w *world) {
				w.allowed = map[string]bool{"create services": true, "delete endpointslices.discovery.k8s.io": true, "get secrets": true}
			},
			fail: map[string]string{cReadOnly: "in east the credentials may create services, delete endpointslices.discovery.k8s.io, get secrets: they must only read"},
		},
		{
			name: "an export has no mirror",
			mod:  func(_ *testing.T, w *world) { w.west[5] = service("x", "y", nil) },
			fail: map[string]string{cMirrored: "1 of 3 exports of east have no mirror here: data/db (no data/db-east)"},
		},
		{
			name: "a mirror of a Service no longer exported",
			mod: func(_ *testing.T, w *world) {
				w.west = append(w.west, service("apps", "old-east", mirrorLabels("east", "old")))
				w.east = append(w.east, service("apps", "old", nil))
			},
			fail: map[string]string{cOrphans: "1 of 4 mirrors stand for no Service east exports, or one the Link does not select: apps/old-east (of old)"},
		},
		{
			name: "a mirror without its remote-name label",
			mod: func(_ *testing.T, w *world) {
				l := mirrorLabels("east", "")
				delete(l, mcv1alpha1.LabelRemoteName)
				w.west = append(w.west, service("apps", "gone-east", l))
			},
			fail: map[string]string{cOrphans: "apps/gone-east (of gone)"},
		},
		{
			name: "mirrors of another Link are not this one's",
			mod: func(_ *testing.T, w *world) {
				other := mirrorLabels("east", "old")
				other[mcv1alpha1.LabelLink] = "elsewhere.east"
				w.west = append(w.west, service("apps", "old-east", other), service("apps", "old-north", mirrorLabels("north", "old")))
			},
		},
		{
			name: "the selector narrows what must be mirrored",
			mod: func(t *testing.T, w *world) {
				w.westDyn[1] = toUnstructured(t, newLink("east", func(l *mcv1alpha1.Link) {
					l.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "front"}}
				}))
				w.west[4] = service("x", "y", nil) // api-east
				w.west[5] = service("x", "z", nil) // db-east
			},
		},
		{
			name: "the selector leaves mirrors orphaned",
			mod: func(t *testing.T, w *world) {
				w.westDyn[1] = toUnstructured(t, newLink("east", func(l *mcv1alpha1.Link) {
					l.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "front"}}
				}))
			},
			fail: map[string]string{cOrphans: "2 of 3 mirrors stand for no Service east exports, or one the Link does not select: apps/api-east (of api), data/db-east (of db)"},
		},
		{
			name: "no ServiceExport CRD in the remote",
			mod: func(_ *testing.T, w *world) {
				w.eastFails = map[[2]string]error{{"list", "serviceexports"}: apierrors.NewNotFound(mcsv1alpha1.Resource("serviceexports"), "")}
			},
			fail: map[string]string{cOrphans: "data/db-east (of db)"},
		},
		{
			name: "an export whose mirror's name is too long",
			mod: func(_ *testing.T, w *world) {
				w.east = append(w.east, service("apps", strings.Repeat("s", 60), map[string]string{mcv1alpha1.LabelExported: "true"}))
			},
			fail: map[string]string{cMirrored: "-east is not a valid Service name: rename it in east, or link east under a shorter name"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := healthy(t)
			tt.mod(t, w)
			report, got, err := results(t, w.factory())
			ran := tt.run
			if ran == nil {
				ran = allChecks
			}
			if len(got) != len(ran) {
				t.Errorf("ran %d checks, want %d: %v", len(got), len(ran), report)
			}
			for _, name := range ran {
				r, ok := got[name]
				switch want, fails := tt.fail[name]; {
				case !ok:
					t.Errorf("%s: did not run", name)
				case fails && (r.Result != "error" || !strings.Contains(r.Error, want)):
					t.Errorf("%s: %s %q\nwant an error containing %q", name, r.Result, r.Error, want)
				case fails && r.Hint == "":
					t.Errorf("%s: failed with no hint", name)
				case !fails && r.Result != "success":
					t.Errorf("%s: %s %q, want success", name, r.Result, r.Error)
				}
			}
			if wantOK := len(tt.fail) == 0; report.Success != wantOK || (err == nil) != wantOK {
				t.Errorf("success %v, error %v; want success %v", report.Success, err, wantOK)
			}
		})
	}
}

func TestCheckTable(t *testing.T) {
	w := healthy(t)
	w.west[0] = controller(false)
	w.west[5] = service("x", "y", nil)
	w.westDyn = append(w.westDyn, toUnstructured(t, newLink("north")))
	out, _, err := run(w.factory(), "check")
	if err == nil || err.Error() != "3 of 12 checks failed" {
		t.Errorf("error %v, want 3 of 12 checks failed", err)
	}
	golden(t, "check_table.golden", []byte(out))

	out, _, err = run(healthy(t).factory(), "check")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "check_table_ok.golden", []byte(out))
}

func TestCheckNoLinks(t *testing.T) {
	w := healthy(t)
	w.westDyn = w.westDyn[:1]
	out, _, err := run(w.factory(), "check")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "No Links in mesh-multicluster: this cluster mirrors no other.") {
		t.Errorf("printed %q, want a note that there are no Links", out)
	}
}

func TestCheckBadInput(t *testing.T) {
	f := healthy(t).factory()
	for args, want := range map[string]string{
		"-o yaml":     `--output "yaml" is not a format of check: use table or json`,
		"--wait -1s":  "--wait -1s is negative",
		"--wait soon": `invalid argument "soon" for "--wait"`,
	} {
		if _, _, err := run(f, append([]string{"check"}, strings.Fields(args)...)...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", args, err, want)
		}
	}
}
