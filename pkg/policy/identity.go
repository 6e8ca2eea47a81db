package policy

import (
	"fmt"
	"strings"

	"github.com/meshfed/meshfed/pkg/trust"
)

// patternKind is how much of an identity a pattern fixes.
type patternKind uint8

const (
	anyIdentity   patternKind = iota // *
	inTrustDomain                    // spiffe://<td>/ns/*/sa/*
	inNamespace                      // spiffe://<td>/ns/<ns>/sa/*
	exactIdentity                    // spiffe://<td>/ns/<ns>/sa/<sa>
)

// identityPattern is a parsed IdentityPattern: id holds the parts the kind fixes.
type identityPattern struct {
	kind patternKind
	id   trust.ID
}

const (
	patternForm = "spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>"
	patternHint = "* may stand for the service account (spiffe://east.meshfed.local/ns/shop/sa/*), for both namespace and service account (spiffe://east.meshfed.local/ns/*/sa/*), or for every authenticated identity (* alone); never for a trust domain or part of a name"
)

// parseIdentityPattern parses an identity, or a pattern of them, as strictly as trust.ParseID
// parses an identity: a pattern matches by comparing strings, so each part must be written
// the one way an ID is.
func parseIdentityPattern(s string) (identityPattern, error) {
	const scheme = "spiffe://"
	switch {
	case s == "*":
		return identityPattern{kind: anyIdentity}, nil
	case !strings.HasPrefix(s, scheme):
		return identityPattern{}, fmt.Errorf("%.128q is not a SPIFFE identity: want %s, or *", s, patternForm)
	case strings.HasSuffix(s, "/ns/*/sa/*"):
		td := strings.TrimSuffix(strings.TrimPrefix(s, scheme), "/ns/*/sa/*")
		if err := trust.ValidateTrustDomain(td); err != nil {
			return identityPattern{}, fmt.Errorf("%.128q: %w", s, err)
		}
		return identityPattern{kind: inTrustDomain, id: trust.ID{TrustDomain: td}}, nil
	case strings.HasSuffix(s, "/sa/*"):
		td, ns, found := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(s, scheme), "/sa/*"), "/ns/")
		if !found {
			return identityPattern{}, fmt.Errorf("%.128q is not %s", s, patternForm)
		}
		// Any valid name stands in for the wildcard, so that Validate judges the other parts.
		if err := (trust.ID{TrustDomain: td, Namespace: ns, ServiceAccount: "x"}).Validate(); err != nil {
			return identityPattern{}, fmt.Errorf("%.128q: %w; %s", s, err, patternHint)
		}
		return identityPattern{kind: inNamespace, id: trust.ID{TrustDomain: td, Namespace: ns}}, nil
	}
	id, err := trust.ParseID(s)
	if err != nil {
		if strings.Contains(s, "*") {
			return identityPattern{}, fmt.Errorf("%w; %s", err, patternHint)
		}
		return identityPattern{}, err
	}
	return identityPattern{kind: exactIdentity, id: id}, nil
}

func (p identityPattern) matches(id *trust.ID) bool {
	switch p.kind {
	case anyIdentity:
		return true
	case inTrustDomain:
		return id.TrustDomain == p.id.TrustDomain
	case inNamespace:
		return id.TrustDomain == p.id.TrustDomain && id.Namespace == p.id.Namespace
	}
	return *id == p.id
}
