package trust

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
)

// oidSubjectAltName is the subjectAltName extension.
func oidSubjectAltName() asn1.ObjectIdentifier { return asn1.ObjectIdentifier{2, 5, 29, 17} }

// subjectAltNames are the names of a subjectAltName extension: the URIs verbatim, and the
// kinds of every other name.
type subjectAltNames struct {
	uris   []string
	others []string
}

// generalNameKind names GeneralName's tags (RFC 5280, 4.2.1.6) for errors.
func generalNameKind(tag int) string {
	switch tag {
	case 0:
		return "an other name"
	case 1:
		return "an email address"
	case 2:
		return "a DNS name"
	case 3:
		return "an X.400 address"
	case 4:
		return "a directory name"
	case 5:
		return "an EDI party name"
	case 6:
		return "a URI"
	case 7:
		return "an IP address"
	case 8:
		return "a registered ID"
	}
	return fmt.Sprintf("a name of unknown tag %d", tag)
}

// parseSANs reads the subjectAltName extension among exts itself, rather than through
// crypto/x509's URIs: that field went through url.Parse, which lower-cases the scheme and
// would let a second spelling of an ID through. No extension gives no names.
func parseSANs(exts []pkix.Extension) (subjectAltNames, error) {
	var names subjectAltNames
	found := false
	for _, e := range exts {
		if !e.Id.Equal(oidSubjectAltName()) {
			continue
		}
		if found {
			return names, errors.New("two subjectAltName extensions")
		}
		found = true
		var seq asn1.RawValue
		rest, err := asn1.Unmarshal(e.Value, &seq)
		if err != nil || len(rest) > 0 || seq.Class != asn1.ClassUniversal || seq.Tag != asn1.TagSequence || !seq.IsCompound {
			return names, errors.New("the subjectAltName extension is not a sequence of names")
		}
		for rest = seq.Bytes; len(rest) > 0; {
			var gn asn1.RawValue
			if rest, err = asn1.Unmarshal(rest, &gn); err != nil || gn.Class != asn1.ClassContextSpecific {
				return names, errors.New("the subjectAltName extension holds a malformed name")
			}
			if gn.Tag == 6 {
				names.uris = append(names.uris, string(gn.Bytes))
				continue
			}
			names.others = append(names.others, generalNameKind(gn.Tag))
		}
	}
	return names, nil
}
