package identity

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/meshfed/meshfed/pkg/apis/identity/v1"
	"github.com/meshfed/meshfed/pkg/trust"
)

const (
	// DefaultLeafTTL is how long a leaf lives; proxies renew at 70% of it.
	DefaultLeafTTL = 24 * time.Hour
	// MaxTokenBytes bounds a token: projected tokens are about 1 KiB.
	MaxTokenBytes = 16 << 10
	// MaxIdentityBytes bounds the identity string before it is parsed.
	MaxIdentityBytes = 1024
)

// Options configure a Server.
type Options struct {
	// TrustDomain is this cluster's: the service signs identities in it only.
	TrustDomain string
	// LeafTTL is the life of a leaf; DefaultLeafTTL when zero.
	LeafTTL time.Duration
	Issuers *IssuerStore
	Tokens  TokenReviewer
	Metrics *Metrics
	// Trust, if set, is what WatchTrust streams.
	Trust *TrustState
	Log   *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Server is the identity gRPC service.
type Server struct {
	identityv1.UnimplementedIdentityServer
	opts Options
}

var _ identityv1.IdentityServer = (*Server)(nil)

// NewServer checks opts and returns the service.
func NewServer(opts Options) (*Server, error) {
	if opts.Issuers == nil || opts.Tokens == nil || opts.Log == nil {
		return nil, errors.New("identity server needs an issuer store, a token reviewer and a logger")
	}
	if err := trust.ValidateTrustDomain(opts.TrustDomain); err != nil {
		return nil, err
	}
	if opts.LeafTTL == 0 {
		opts.LeafTTL = DefaultLeafTTL
	}
	if opts.LeafTTL < time.Minute {
		return nil, fmt.Errorf("leaf TTL %s is too short: give at least a minute (default %s)", opts.LeafTTL, DefaultLeafTTL)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Server{opts: opts}, nil
}

// Certify checks the request and the token, then signs a leaf for the identity they agree on.
func (s *Server) Certify(ctx context.Context, req *identityv1.CertifyRequest) (*identityv1.CertifyResponse, error) {
	start := s.opts.Now()
	resp, id, err := s.certify(ctx, req)
	code := status.Code(err)
	if s.opts.Metrics != nil {
		s.opts.Metrics.certify.WithLabelValues(code.String()).Inc()
		s.opts.Metrics.certifySeconds.Observe(time.Since(start).Seconds())
	}
	if err != nil {
		// The token is never logged: it is a credential until it expires.
		s.opts.Log.Info("certify refused", "identity", truncate(req.GetIdentity(), 256), "code", code.String(), "reason", status.Convert(err).Message())
		return nil, err
	}
	s.opts.Log.Debug("certified", "identity", id.String(), "validUntil", resp.GetValidUntil().AsTime())
	return resp, nil
}

func (s *Server) certify(ctx context.Context, req *identityv1.CertifyRequest) (*identityv1.CertifyResponse, trust.ID, error) {
	want, csr, err := s.checkRequest(req)
	if err != nil {
		return nil, trust.ID{}, err
	}
	if err := s.checkToken(ctx, string(req.GetToken()), want); err != nil {
		return nil, trust.ID{}, err
	}
	iss := s.opts.Issuers.Current()
	if iss == nil {
		return nil, trust.ID{}, status.Error(codes.Unavailable, "no issuer loaded yet: the identity service is waiting for its issuer Secret; retry")
	}
	now := s.opts.Now()
	leaf, err := iss.CA.SignLeaf(csr, want, s.opts.LeafTTL, now)
	if err != nil {
		return nil, trust.ID{}, status.Errorf(codes.Internal, "signing the leaf: %v", err)
	}
	chain := make([][]byte, 0, 1+len(iss.CA.Chain))
	for _, c := range append([]*x509.Certificate{iss.CA.Cert}, iss.CA.Chain...) {
		chain = append(chain, c.Raw)
	}
	return &identityv1.CertifyResponse{
		LeafCertificate:          leaf.Raw,
		IntermediateCertificates: chain,
		ValidUntil:               timestamppb.New(leaf.NotAfter),
	}, want, nil
}

// checkRequest checks what can be checked without asking anyone: sizes, the identity, and
// that the CSR asks for that identity and nothing else.
func (s *Server) checkRequest(req *identityv1.CertifyRequest) (trust.ID, *x509.CertificateRequest, error) {
	if len(req.GetIdentity()) > MaxIdentityBytes {
		return trust.ID{}, nil, status.Errorf(codes.InvalidArgument, "identity is %d bytes; at most %d", len(req.GetIdentity()), MaxIdentityBytes)
	}
	want, err := trust.ParseID(req.GetIdentity())
	if err != nil {
		return trust.ID{}, nil, status.Errorf(codes.InvalidArgument, "identity: %v", err)
	}
	if want.TrustDomain != s.opts.TrustDomain {
		return trust.ID{}, nil, status.Errorf(codes.PermissionDenied, "identity %s is in trust domain %q; this cluster signs %q only", want, want.TrustDomain, s.opts.TrustDomain)
	}
	switch n := len(req.GetToken()); {
	case n == 0:
		return trust.ID{}, nil, status.Errorf(codes.InvalidArgument, "token is empty: send the workload's projected ServiceAccount token with audience %s", Audience)
	case n > MaxTokenBytes:
		return trust.ID{}, nil, status.Errorf(codes.InvalidArgument, "token is %d bytes; at most %d", n, MaxTokenBytes)
	}
	if n := len(req.GetCertificateSigningRequest()); n > trust.MaxCSRBytes {
		return trust.ID{}, nil, status.Errorf(codes.InvalidArgument, "certificate_signing_request is %d bytes; at most %d", n, trust.MaxCSRBytes)
	}
	csr, asked, err := trust.ParseCSR(req.GetCertificateSigningRequest())
	if err != nil {
		return trust.ID{}, nil, status.Errorf(codes.InvalidArgument, "certificate_signing_request: %v", err)
	}
	if asked != want {
		return trust.ID{}, nil, status.Errorf(codes.InvalidArgument, "certificate_signing_request asks for %s but the request names %s: they must be the same", asked, want)
	}
	return want, csr, nil
}

// checkToken asks the API server whether the token is good for the mesh's audience and
// whether it proves want.
func (s *Server) checkToken(ctx context.Context, token string, want trust.ID) error {
	review, err := s.opts.Tokens.Review(ctx, token)
	if err != nil {
		return status.Errorf(codes.Unavailable, "cannot check the token: %v", err)
	}
	if !review.Authenticated {
		reason := review.Error
		if reason == "" {
			reason = "not authenticated"
		}
		return status.Errorf(codes.Unauthenticated, "token refused by the API server (%s): send a current projected ServiceAccount token with audience %s", reason, Audience)
	}
	if !slices.Contains(review.Audiences, Audience) {
		return status.Errorf(codes.Unauthenticated, "token is not for audience %s (it is for %v): project a token with that audience", Audience, review.Audiences)
	}
	ns, sa, ok := serviceAccountOf(review.Username)
	if !ok {
		return status.Errorf(codes.PermissionDenied, "token is for %q, not a ServiceAccount: only workloads get identities", review.Username)
	}
	proved := trust.ID{TrustDomain: s.opts.TrustDomain, Namespace: ns, ServiceAccount: sa}
	if proved != want {
		return status.Errorf(codes.PermissionDenied, "token proves %s, not %s: a workload gets its own ServiceAccount's identity only", proved, want)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
