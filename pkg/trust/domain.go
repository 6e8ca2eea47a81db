package trust

// ValidateTrustDomain checks that td can be a trust domain, as an ID's first part: the error
// says what is wrong and does not name a flag, callers add theirs.
func ValidateTrustDomain(td string) error {
	return ID{TrustDomain: td, Namespace: "default", ServiceAccount: "default"}.Validate()
}
