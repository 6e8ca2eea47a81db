package mirror

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	aboutv1alpha1 "github.com/meshfed/meshfed/pkg/apis/about/v1alpha1"
	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

// finalizer holds a Link until its mirrors are gone: they live in other namespaces, where an
// owner reference cannot reach.
const finalizer = "multicluster.meshfed.io/mirrors"

// linkReconciler runs each Link's remote watch, and writes the Link's status.
type linkReconciler struct {
	client   client.Client
	remotes  *remotes
	gateways *gatewayProbes
	statuses *statuses
	enqueue  func(mirrorKey)
	// readOnly tells whether credentials can write in the remote; swapped in tests.
	readOnly func(ctx context.Context, cfg *rest.Config) error
	// remoteLabels is, per Link key, the remote_cluster its meshfed_link_remote_state was
	// last set with: a Link retargeted leaves no series behind for the cluster it named.
	remoteLabels sync.Map
}

// linkScope is what one reconcile learns, phase by phase.
type linkScope struct {
	link *mcv1alpha1.Link
	key  types.NamespacedName
	// credentialsErr says why the credentials cannot be used; set by reconcileCredentials.
	credentialsErr *notMirrored
	// remote is the running watch; set by reconcileRemote.
	remote *remote
	// gateway is what gossip or the probe says of the remote gateway.
	gateway gatewayLiveness
}

func (r *linkReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var link mcv1alpha1.Link
	if err := r.client.Get(ctx, req.NamespacedName, &link); err != nil {
		if apierrors.IsNotFound(err) {
			r.remotes.stop(req.NamespacedName)
			r.gateways.stop(req.NamespacedName)
			r.statuses.dropLink(req.NamespacedName)
			remoteStateGauge.DeletePartialMatch(prometheus.Labels{"link": req.String()})
			r.remoteLabels.Delete(req.String())
			mirrorsGauge.DeleteLabelValues(req.String())
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	s := &linkScope{link: &link, key: req.NamespacedName}
	if !link.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, r.reconcileDelete(ctx, s)
	}
	if controllerutil.AddFinalizer(&link, finalizer) {
		if err := r.client.Update(ctx, &link); err != nil {
			return reconcile.Result{}, err
		}
	}
	before := link.DeepCopy()
	err := r.reconcileRemote(ctx, s)
	r.reconcileGateway(ctx, s)
	r.setStatus(s, err)
	if !apiequality.Semantic.DeepEqual(before.Status, link.Status) {
		// A merge patch, not an update: the status is this controller's alone, and its cache
		// may lag its last write while a burst of exports keeps it busy, which an update
		// would have refused as a conflict for nothing.
		if uerr := r.client.Status().Patch(ctx, &link, client.MergeFrom(before)); uerr != nil {
			err = errors.Join(err, uerr)
		}
	}
	if s.credentialsErr != nil && s.credentialsErr.Reason == "RemoteUnreachable" {
		// No watch runs to say when the remote is back: ask again.
		return reconcile.Result{RequeueAfter: retryUnreachable}, err
	}
	return reconcile.Result{}, err
}

// retryUnreachable is how often a remote that could not be reached at all is tried again.
const retryUnreachable = 5 * time.Second

// reconcileRemote checks the credentials and runs the remote watch with them. Credentials that
// cannot be used stop the watch: its mirrors stay, marked not ready.
func (r *linkReconciler) reconcileRemote(ctx context.Context, s *linkScope) error {
	cfg, hash, bad := r.credentials(ctx, s.link)
	if bad == nil {
		if err := r.checkedCached(ctx, s.key, cfg, hash, s.link.Spec.TargetClusterName); err != nil {
			var nm *notMirrored
			if !errors.As(err, &nm) {
				// The remote did not answer: not the credentials' fault; it is probed again.
				nm = &notMirrored{"RemoteUnreachable", fmt.Sprintf("the remote cluster did not answer: %v", err)}
			}
			bad = nm
		}
	}
	if bad != nil {
		s.credentialsErr = bad
		_, state := r.remotes.stateOf(s.key)
		r.remotes.refuse(s.key)
		if state != remoteUnreachable {
			r.enqueueAll(ctx, s.key, nil)
		}
		return nil
	}
	prev := r.remotes.get(s.key)
	rem, err := r.remotes.ensure(ctx, s.key, cfg, hash)
	if err != nil {
		s.credentialsErr = &notMirrored{"RemoteUnreachable", err.Error()}
		return nil
	}
	s.remote = rem
	// A new watch, or a state change of the running one (synced, lost, back): every export
	// and every mirror of the Link is looked at again.
	if prev != rem || rem.State() != rem.lastSeen {
		rem.lastSeen = rem.State()
		if rem.State() != remoteStarting {
			r.enqueueAll(ctx, s.key, rem)
		}
	}
	return nil
}

// reconcileGateway runs the probe of the remote gateway; when its liveness changed (by gossip
// or probe), every mirror of the Link is looked at again, to take its endpoints out or put
// them back.
func (r *linkReconciler) reconcileGateway(ctx context.Context, s *linkScope) {
	r.gateways.ensure(s.link)
	s.gateway = r.gateways.liveness(s.key)
	if r.gateways.seenChange(s.key) && s.remote != nil && s.remote.State() == remoteHealthy {
		r.enqueueAll(ctx, s.key, s.remote)
	}
}

// credentials reads the Link's Secret into a client configuration.
func (r *linkReconciler) credentials(ctx context.Context, link *mcv1alpha1.Link) (*rest.Config, string, *notMirrored) {
	var secret corev1.Secret
	err := r.client.Get(ctx, types.NamespacedName{Namespace: link.Namespace, Name: link.Spec.CredentialsSecret}, &secret)
	if apierrors.IsNotFound(err) {
		return nil, "", &notMirrored{"SecretNotFound", fmt.Sprintf("spec.credentialsSecret: Secret %s/%s does not exist: apply what `mesh multicluster link --cluster-name %s` prints against %s", link.Namespace, link.Spec.CredentialsSecret, link.Spec.TargetClusterName, link.Spec.TargetClusterName)}
	}
	if err != nil {
		return nil, "", &notMirrored{"SecretUnreadable", err.Error()}
	}
	data, ok := secret.Data[mcv1alpha1.CredentialsKey]
	if !ok || len(data) == 0 {
		return nil, "", &notMirrored{"KubeconfigMissing", fmt.Sprintf("Secret %s/%s has no key %q: it must hold the remote's kubeconfig there", link.Namespace, secret.Name, mcv1alpha1.CredentialsKey)}
	}
	cfg, err := ParseCredentials(data)
	if err != nil {
		return nil, "", &notMirrored{"KubeconfigInvalid", fmt.Sprintf("Secret %s/%s key %q: %v: make it again with `mesh multicluster link`", link.Namespace, secret.Name, mcv1alpha1.CredentialsKey, err)}
	}
	cfg.UserAgent = "meshfed-link-controller"
	sum := sha256.Sum256(data)
	return cfg, hex.EncodeToString(sum[:]), nil
}

// checkedCached checks the credentials, and the remote's name, once per version of them.
func (r *linkReconciler) checkedCached(ctx context.Context, link types.NamespacedName, cfg *rest.Config, hash, target string) error {
	if rem := r.remotes.get(link); rem != nil && rem.credentials == hash {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := r.readOnly(ctx, cfg); err != nil {
		return err
	}
	return checkClusterName(ctx, cfg, target)
}

// aboutScheme reads the remote's ClusterProperty.
var aboutScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := aboutv1alpha1.AddToScheme(s); err != nil {
		panic(err) // registering two types cannot fail but for a bug
	}
	return s
}()

// checkClusterName refuses a Link whose targetClusterName is not the name the remote gives
// itself in its ClusterProperty cluster.clusterset.k8s.io (KEP-2149): the mirrors, the
// ServiceImports' source clusters and the gateway's allow list would name it wrongly. A
// remote with no such property, or whose credentials may not read it, is taken at the Link's
// word.
func checkClusterName(ctx context.Context, cfg *rest.Config, target string) error {
	c, err := client.New(cfg, client.Options{Scheme: aboutScheme})
	if err != nil {
		return err
	}
	var p aboutv1alpha1.ClusterProperty
	switch err := c.Get(ctx, types.NamespacedName{Name: aboutv1alpha1.ClusterIDProperty}, &p); {
	case apierrors.IsNotFound(err) || apierrors.IsForbidden(err) || meta.IsNoMatchError(err):
		return nil
	case err != nil:
		return err
	case p.Spec.Value != target:
		return &notMirrored{"ClusterNameMismatch", fmt.Sprintf("spec.targetClusterName is %s, but the remote cluster's ClusterProperty %s names it %s: make the Link again with `mesh multicluster link` run against that cluster, which reads its name there", target, aboutv1alpha1.ClusterIDProperty, p.Spec.Value)}
	}
	return nil
}

// forbiddenAccess is what a Link's credentials must not be allowed anywhere in the remote
// cluster: writing what the link controller only reads, and reading Secrets.
var forbiddenAccess = func() []authorizationv1.ResourceAttributes {
	var out []authorizationv1.ResourceAttributes
	for _, r := range []struct{ group, resource string }{
		{"", "services"}, {"discovery.k8s.io", "endpointslices"}, {"", "pods"}, {"", "secrets"},
	} {
		for _, verb := range []string{"create", "update", "patch", "delete"} {
			out = append(out, authorizationv1.ResourceAttributes{Verb: verb, Group: r.group, Resource: r.resource})
		}
	}
	for _, verb := range []string{"get", "list", "watch"} {
		out = append(out, authorizationv1.ResourceAttributes{Verb: verb, Resource: "secrets"})
	}
	return out
}()

// ForbiddenAllowed asks the remote's authorizer, as the credentials cs holds, what of
// forbiddenAccess they may do: tried, not assumed. Empty means read-only. The controller and
// `mesh multicluster check` share it.
func ForbiddenAllowed(ctx context.Context, cs kubernetes.Interface) ([]string, error) {
	var allowed []string
	for _, attrs := range forbiddenAccess {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs}}
		res, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("asking whether the credentials may %s %s: %w", attrs.Verb, attrs.Resource, err)
		}
		if res.Status.Allowed {
			what := attrs.Resource
			if attrs.Group != "" {
				what += "." + attrs.Group
			}
			allowed = append(allowed, attrs.Verb+" "+what)
		}
	}
	return allowed, nil
}

// checkReadOnly refuses credentials that may do more than read.
func checkReadOnly(ctx context.Context, cfg *rest.Config) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	allowed, err := ForbiddenAllowed(ctx, cs)
	if err != nil {
		return err
	}
	if len(allowed) > 0 {
		return &notMirrored{"NotReadOnly", fmt.Sprintf("the credentials may %s in the remote cluster: give the Link the read-only ServiceAccount that `mesh multicluster link` sets up, never an admin's", strings.Join(allowed, ", "))}
	}
	return nil
}

// enqueueAll asks the mirror controller to look at every export of the remote and every
// mirror here of the Link.
func (r *linkReconciler) enqueueAll(ctx context.Context, link types.NamespacedName, rem *remote) {
	if rem != nil {
		var svcs corev1.ServiceList
		if err := rem.reader().List(ctx, &svcs); err == nil {
			for _, s := range svcs.Items {
				r.enqueue(mirrorKey{Link: link, Namespace: s.Namespace, Name: s.Name})
			}
		}
	}
	// The Services and the slices: a federated member has a slice of the Link's and no
	// Service of its own, and a mirror half deleted when the controller stopped may have a
	// Service and no slice left.
	seen := map[mirrorKey]bool{}
	for _, list := range []client.ObjectList{&corev1.ServiceList{}, &discoveryv1.EndpointSliceList{}} {
		if err := r.client.List(ctx, list, client.MatchingLabels{mcv1alpha1.LabelLink: linkLabel(link)}); err != nil {
			continue
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			continue
		}
		for _, item := range items {
			m := item.(client.Object)
			k := mirrorKey{Link: link, Namespace: m.GetNamespace(), Name: m.GetLabels()[mcv1alpha1.LabelRemoteName]}
			if k.Name != "" && !seen[k] {
				seen[k] = true
				r.enqueue(k)
			}
		}
	}
}

// reconcileDelete removes every mirror of the Link, then lets the Link go.
func (r *linkReconciler) reconcileDelete(ctx context.Context, s *linkScope) error {
	r.remotes.stop(s.key)
	if err := deleteMirrors(ctx, r.client, []client.ListOption{client.MatchingLabels{mcv1alpha1.LabelLink: linkLabel(s.key)}}, nil); err != nil {
		return err
	}
	// Every federated Service loses what the Link's members gave it, and goes if they were
	// the last. All of them, not those of the Link's slices found here: `unlink` may have
	// deleted those slices already.
	var federated corev1.ServiceList
	if err := r.client.List(ctx, &federated, client.MatchingLabels{mcv1alpha1.LabelMirrorMode: mcv1alpha1.MirrorModeFederated}); err != nil {
		return err
	}
	for _, svc := range federated.Items {
		member, ok := strings.CutSuffix(svc.Name, mcv1alpha1.FederatedSuffix)
		if !ok {
			continue
		}
		if err := syncFederated(ctx, r.client, mirrorKey{Link: s.key, Namespace: svc.Namespace, Name: member}, svc.Name, nil); err != nil {
			return err
		}
	}
	r.statuses.dropLink(s.key)
	if controllerutil.RemoveFinalizer(s.link, finalizer) {
		return r.client.Update(ctx, s.link)
	}
	return nil
}
