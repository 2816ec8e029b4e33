package db

import (
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// keywordPassword finds a password in key=value connection strings and in URL
// query parameters: password=secret, password = 'se cret', ?password=secret.
var keywordPassword = regexp.MustCompile(`(?i)password\s*=\s*('(?:[^'\\]|\\.)*'|[^&\s]+)`)

// connPasswords extracts the password forms a connection string may hold,
// without relying on it being well formed: a string that does not parse is
// exactly the one whose parse error may quote it.
func connPasswords(connString string) []string {
	var found []string

	if pw := urlPassword(connString); pw != "" {
		found = append(found, pw)
	}

	for _, m := range keywordPassword.FindAllStringSubmatch(connString, -1) {
		found = append(found, m[1], strings.Trim(m[1], "'"))
	}

	var all []string
	for _, pw := range found {
		all = append(all, pw)
		if dec, err := url.PathUnescape(pw); err == nil {
			all = append(all, dec)
		}
		if dec, err := url.QueryUnescape(pw); err == nil {
			all = append(all, dec)
		}
	}

	return all
}

// urlPassword returns the text between "user:" and the last "@" of a URL's
// authority, as written.
func urlPassword(s string) string {
	_, rest, ok := strings.Cut(s, "://")
	if !ok {
		return ""
	}

	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
	}

	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return ""
	}

	_, pw, ok := strings.Cut(rest[:at], ":")
	if !ok {
		return ""
	}

	return pw
}

// scrub replaces every secret in msg, longest first, with xxxxx.
func scrub(msg string, secrets []string) string {
	sorted := make([]string, 0, len(secrets))
	for _, s := range secrets {
		if s != "" {
			sorted = append(sorted, s)
		}
	}

	sort.Slice(sorted, func(i, j int) bool { return len(sorted[i]) > len(sorted[j]) })

	for _, s := range sorted {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
	}

	return msg
}
