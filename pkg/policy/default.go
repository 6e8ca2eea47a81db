package policy

import "fmt"

// DefaultPolicy decides the connections to ports that no Server selects.
type DefaultPolicy string

const (
	// AllUnauthenticated allows every client, mTLS or plaintext.
	AllUnauthenticated DefaultPolicy = "all-unauthenticated"
	// AllAuthenticated allows every client with a mesh identity, from any trust domain the
	// proxy's TLS stack accepted, and denies plaintext.
	AllAuthenticated DefaultPolicy = "all-authenticated"
	// Deny denies every client.
	Deny DefaultPolicy = "deny"
)

// ParseDefaultPolicy reads a default policy as a flag or an annotation spells it.
func ParseDefaultPolicy(s string) (DefaultPolicy, error) {
	switch p := DefaultPolicy(s); p {
	case AllUnauthenticated, AllAuthenticated, Deny:
		return p, nil
	}
	return "", fmt.Errorf("default policy %q is not one of %s, %s, %s", s, AllUnauthenticated, AllAuthenticated, Deny)
}

// decide applies the default policy to a client, authenticated (mTLS) or not. Every string
// is a constant: a decision here costs no allocation.
func (p DefaultPolicy) decide(authenticated bool) Decision {
	switch p {
	case AllUnauthenticated:
		return Decision{Allowed: true, Policy: "default:" + string(AllUnauthenticated),
			Reason: "no Server selects the port, and the default policy all-unauthenticated allows every client"}
	case AllAuthenticated:
		if authenticated {
			return Decision{Allowed: true, Policy: "default:" + string(AllAuthenticated),
				Reason: "no Server selects the port, and the default policy all-authenticated allows every client with a mesh identity"}
		}
		return Decision{Policy: "default:" + string(AllAuthenticated),
			Reason: "no Server selects the port, and the default policy all-authenticated denies plaintext clients: this one has no mesh identity"}
	case Deny:
		return Decision{Policy: "default:" + string(Deny),
			Reason: "no Server selects the port, and the default policy is deny"}
	}
	// A value that did not come from ParseDefaultPolicy or the constants: fail closed.
	return Decision{Policy: "default:unknown",
		Reason: "no Server selects the port, and the default policy given is none of all-unauthenticated, all-authenticated, deny: denied (read it with ParseDefaultPolicy)"}
}
