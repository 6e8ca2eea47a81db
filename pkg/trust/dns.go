package trust

import "strings"

// isDNSLabel says whether s is an RFC 1123 label as Kubernetes names namespaces: at most 63
// lower-case letters, digits and '-', starting and ending with a letter or digit. Written
// out rather than as a regular expression: ParseID runs on every CSR, and is fuzzed.
func isDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// isDNSSubdomain says whether s is an RFC 1123 subdomain as Kubernetes names
// ServiceAccounts: labels joined by '.', at most 253 in all.
func isDNSSubdomain(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for l := range strings.SplitSeq(s, ".") {
		if !isDNSLabel(l) {
			return false
		}
	}
	return true
}
