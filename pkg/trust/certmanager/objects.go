package certmanager

import (
	"crypto/x509"
	"errors"
	"fmt"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshfed/meshfed/pkg/trust"
)

// revisionHistoryLimit keeps the issuer's last CertificateRequests only: it is renewed
// every 23h, and cert-manager v1.11 keeps every request unless told otherwise.
const revisionHistoryLimit = 3

// CertManagerObjects are what a cluster applies to have cert-manager make and renew its
// issuer from anchor: the namespace mesh-system, the anchor Secret in cmNamespace (where
// cert-manager reads a ClusterIssuer's Secret), the ClusterIssuer, the issuer Certificate
// and the bundle ConfigMap. The bundle must hold the anchor.
func CertManagerObjects(cluster string, anchor *trust.CA, bundle *trust.Bundle, cmNamespace string) ([]runtime.Object, error) {
	if anchor == nil || !bundle.Contains(anchor.Cert) {
		return nil, errors.New("the trust bundle does not hold the anchor: the cluster would not trust its own issuer")
	}
	secret, err := AnchorSecret(anchor, cmNamespace)
	if err != nil {
		return nil, err
	}
	cert, err := IssuerCertificate(cluster)
	if err != nil {
		return nil, err
	}
	cm, err := BundleConfigMap(bundle)
	if err != nil {
		return nil, err
	}
	return []runtime.Object{Namespace(), secret, AnchorClusterIssuer(), cert, cm}, nil
}

// StandaloneObjects are what a cluster applies without cert-manager: the namespace
// mesh-system, the issuer Secret of issuer (signed by anchor), and the bundle ConfigMap.
// The bundle must hold the anchor.
func StandaloneObjects(issuer *trust.CA, anchor *x509.Certificate, bundle *trust.Bundle) ([]runtime.Object, error) {
	if !bundle.Contains(anchor) {
		return nil, errors.New("the trust bundle does not hold the anchor: the cluster would not trust its own issuer")
	}
	secret, err := IssuerSecret(issuer, anchor)
	if err != nil {
		return nil, err
	}
	cm, err := BundleConfigMap(bundle)
	if err != nil {
		return nil, err
	}
	return []runtime.Object{Namespace(), secret, cm}, nil
}

// Namespace is mesh-system, the control plane's namespace.
func Namespace() *corev1.Namespace {
	return &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: objectMeta(trust.Namespace, ""),
	}
}

// AnchorSecret is the anchor and its key in cert-manager's namespace, for the ClusterIssuer.
func AnchorSecret(anchor *trust.CA, cmNamespace string) (*corev1.Secret, error) {
	if errs := validation.IsDNS1123Label(cmNamespace); len(errs) > 0 {
		return nil, fmt.Errorf("cert-manager's namespace %q is not a namespace name (%s): give the namespace cert-manager runs in, such as %s", cmNamespace, errs[0], trust.DefaultCertManagerNamespace)
	}
	return tlsSecret(trust.AnchorSecretName, cmNamespace, anchor, anchor.Cert)
}

// AnchorClusterIssuer is the CA ClusterIssuer that signs with the anchor Secret.
func AnchorClusterIssuer() *cmv1.ClusterIssuer {
	return &cmv1.ClusterIssuer{
		TypeMeta:   metav1.TypeMeta{APIVersion: cmv1.SchemeGroupVersion.String(), Kind: cmv1.ClusterIssuerKind},
		ObjectMeta: objectMeta(trust.AnchorIssuerName, ""),
		Spec: cmv1.IssuerSpec{IssuerConfig: cmv1.IssuerConfig{
			CA: &cmv1.CAIssuer{SecretName: trust.AnchorSecretName},
		}},
	}
}

// IssuerCertificate is the Certificate from which cert-manager makes cluster's issuer
// Secret: a P-256 CA of trust.IssuerDuration, renewed trust.IssuerRenewBefore its end with
// a new key each time, signed by the anchor's ClusterIssuer.
func IssuerCertificate(cluster string) (*cmv1.Certificate, error) {
	if err := trust.ValidateClusterName(cluster); err != nil {
		return nil, err
	}
	return &cmv1.Certificate{
		TypeMeta:   metav1.TypeMeta{APIVersion: cmv1.SchemeGroupVersion.String(), Kind: cmv1.CertificateKind},
		ObjectMeta: objectMeta(trust.IssuerCertificateName, trust.Namespace),
		Spec: cmv1.CertificateSpec{
			CommonName:  trust.IssuerCommonName(cluster),
			IsCA:        true,
			Duration:    &metav1.Duration{Duration: trust.IssuerDuration},
			RenewBefore: &metav1.Duration{Duration: trust.IssuerRenewBefore},
			SecretName:  trust.IssuerSecretName,
			SecretTemplate: &cmv1.CertificateSecretTemplate{
				Labels: map[string]string{trust.PartOfLabel: trust.PartOfValue},
			},
			PrivateKey: &cmv1.CertificatePrivateKey{
				Algorithm: cmv1.ECDSAKeyAlgorithm,
				Size:      256,
				Encoding:  cmv1.PKCS8,
				// Always: cert-manager v1.11 keeps the old key by default, and a leaked
				// issuer key would then outlive its certificate.
				RotationPolicy: cmv1.RotationPolicyAlways,
			},
			Usages: []cmv1.KeyUsage{cmv1.UsageCertSign, cmv1.UsageCRLSign},
			IssuerRef: cmmeta.ObjectReference{
				Name:  trust.AnchorIssuerName,
				Kind:  cmv1.ClusterIssuerKind,
				Group: cmv1.SchemeGroupVersion.Group,
			},
			RevisionHistoryLimit: ptr(int32(revisionHistoryLimit)),
		},
	}, nil
}

// IssuerSecret is issuer and its key as the identity service reads them, as cert-manager
// would write them: tls.crt the issuer and its chain, tls.key, ca.crt the anchor.
func IssuerSecret(issuer *trust.CA, anchor *x509.Certificate) (*corev1.Secret, error) {
	if issuer == nil || issuer.Cert == nil || anchor == nil {
		return nil, errors.New("the issuer Secret needs the issuer and its anchor")
	}
	return tlsSecret(trust.IssuerSecretName, trust.Namespace, issuer, anchor)
}

// BundleConfigMap is the anchors every proxy of the cluster trusts.
func BundleConfigMap(bundle *trust.Bundle) (*corev1.ConfigMap, error) {
	if bundle == nil || len(bundle.Anchors()) == 0 {
		return nil, errors.New("the trust bundle holds no anchor: give at least the anchor the cluster's issuer chains to")
	}
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: objectMeta(trust.BundleConfigMapName, trust.Namespace),
		Data:       map[string]string{trust.BundleKey: string(bundle.PEM())},
	}, nil
}

// tlsSecret is a kubernetes.io/tls Secret of ca with ca.crt set to anchor.
func tlsSecret(name, namespace string, ca *trust.CA, anchor *x509.Certificate) (*corev1.Secret, error) {
	if ca == nil || ca.Cert == nil || ca.Key == nil {
		return nil, fmt.Errorf("the Secret %s/%s needs a CA with its key", namespace, name)
	}
	key, err := ca.KeyPEM()
	if err != nil {
		return nil, fmt.Errorf("the Secret %s/%s: %w", namespace, name, err)
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: objectMeta(name, namespace),
		Type:       corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey:       ca.CertPEM(),
			corev1.TLSPrivateKeyKey: key,
			CACertKey:               trust.EncodeCertificates(anchor),
		},
	}, nil
}

// CACertKey is the key of a TLS Secret holding the anchor, as cert-manager names it.
const CACertKey = "ca.crt"

func objectMeta(name, namespace string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:      name,
		Namespace: namespace,
		Labels:    map[string]string{trust.PartOfLabel: trust.PartOfValue},
	}
}

func ptr[T any](v T) *T { return &v }
