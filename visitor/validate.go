package visitor

import (
	"net/mail"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Field limits for visitor-supplied details.
const (
	maxNameBytes   = 200
	maxEmailBytes  = 254
	maxLocaleBytes = 35
	maxURLBytes    = 2048
	maxTitleBytes  = 512
)

// cleanLine trims s and checks it is one line of printable text of at most
// max bytes. field names the JSON field in the error.
func cleanLine(field, s string, max int) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > max {
		return "", errBadRequest(field + " is too long")
	}
	if !utf8.ValidString(s) {
		return "", errBadRequest(field + " is not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", errBadRequest(field + " must not contain control characters")
		}
	}
	return s, nil
}

// cleanEmail checks that s is a plain e-mail address (local@domain, no
// display name). Empty is allowed.
func cleanEmail(field, s string) (string, error) {
	s, err := cleanLine(field, s, maxEmailBytes)
	if err != nil || s == "" {
		return s, err
	}
	a, err := mail.ParseAddress(s)
	at := strings.LastIndexByte(s, '@')
	if err != nil || a.Address != s || at < 1 || at == len(s)-1 || strings.ContainsAny(s, " <>") {
		return "", errBadRequest(field + " is not a valid e-mail address")
	}
	domain := s[at+1:]
	if strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", errBadRequest(field + " is not a valid e-mail address")
	}
	return s, nil
}

// cleanLocale checks a BCP 47 style tag ("fr", "en-GB"). Empty is allowed.
func cleanLocale(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxLocaleBytes {
		return "", errBadRequest("locale is too long")
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))) {
			return "", errBadRequest("locale must be a language tag such as en or fr-FR")
		}
	}
	return s, nil
}

// cleanPageURL checks an absolute http(s) URL. Empty is allowed unless
// required.
func cleanPageURL(field, s string, required bool) (string, error) {
	s, err := cleanLine(field, s, maxURLBytes)
	if err != nil {
		return "", err
	}
	if s == "" {
		if required {
			return "", errBadRequest(field + " is required")
		}
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errBadRequest(field + " must be an absolute http or https URL")
	}
	return s, nil
}
