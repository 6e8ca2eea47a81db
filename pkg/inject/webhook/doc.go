// Package webhook is the proxy injector's admission webhook, as `controller injector` serves
// it: a Handler for admission.k8s.io/v1 AdmissionReviews of pods being created, which runs
// pkg/inject on each and answers with a JSONPatch adding the proxy, and what keeps it fed:
// the serving certificate from its Secret (CertStore), the trust bundle from its ConfigMap
// (trustwatch.BundleStore), both reloaded when they change, and the namespaces' annotations
// (Namespaces).
//
// The webhook never blocks a pod: whatever goes wrong (an annotation value it does not take,
// no bundle yet, a request it cannot read) it lets the pod through unchanged, with an
// admission warning that kubectl prints and a log line, and counts it by result. Its
// MutatingWebhookConfiguration has failurePolicy Ignore for the same reason.
//
// It does not decide what injection is (pkg/inject does), issue its own certificate
// (cert-manager does, and its cainjector fills the webhook's caBundle), or register itself
// with the apiserver (deploy/charts/meshfed/templates/injector.yaml does).
package webhook
