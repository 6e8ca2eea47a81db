package webhook

// Names the webhook and its manifest (deploy/charts/meshfed/templates/injector.yaml) share.
const (
	// Name is the webhook's Service, Deployment, ServiceAccount, cert-manager Certificate
	// and MutatingWebhookConfiguration, in mesh-system.
	Name = "meshfed-injector"
	// CertSecretName is the kubernetes.io/tls Secret cert-manager writes the serving
	// certificate to.
	CertSecretName = "meshfed-injector-tls"
	// Path is where the webhook serves AdmissionReviews.
	Path = "/inject"
	// Port is the webhook's HTTPS port (DESIGN.md, "Names on the wire"); its Service
	// answers on 443.
	Port = 8443
)
