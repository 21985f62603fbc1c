package mapping

import (
	"fmt"
	"strings"
	"unicode"
)

// CheckSubjectToken is the one rule for a configured NATS subject token
// (mapping.pbx_id, each token of nats.subject_prefix, a JetStream domain):
// not empty, no '.', '*' or '>', no space, tab, line break or other
// control character. key names the setting in the error.
func CheckSubjectToken(key, s string) error {
	if s == "" || strings.ContainsAny(s, ".*>") || strings.IndexFunc(s, badSubjectRune) >= 0 {
		return fmt.Errorf("%s must be a NATS subject token (no spaces, control characters, '.', '*' or '>'), got %q", key, s)
	}
	return nil
}

// CheckSubject checks a literal subject of one or more tokens joined by
// '.' (nats.subject_prefix), each token as CheckSubjectToken.
func CheckSubject(key, s string) error {
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || strings.ContainsAny(tok, "*>") || strings.IndexFunc(tok, badSubjectRune) >= 0 {
			return fmt.Errorf("%s must be NATS subject tokens joined by '.' (no empty token, spaces, control characters, '*' or '>'), got %q", key, s)
		}
	}
	return nil
}

func badSubjectRune(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }
