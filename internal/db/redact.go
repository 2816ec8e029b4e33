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
	found := userinfoSecrets(connString)

	if u, err := url.Parse(connString); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			found = append(found, pw)
		}
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

// userinfoSecrets returns every piece of a URL's user info that may be a
// password: the text between "://" and the last "@" less the user name
// before its first ':'. A password with an unescaped '@' splits into pieces
// that parsers take for the user, the password or the host, so then every
// '@'-separated piece counts, the user name too.
func userinfoSecrets(s string) []string {
	userinfo, ok := urlUserinfo(s)
	if !ok {
		return nil
	}

	user, password, _ := strings.Cut(userinfo, ":")
	secrets := []string{password}

	if pieces := strings.Split(userinfo, "@"); len(pieces) > 1 {
		secrets = append(secrets, pieces...)
		secrets = append(secrets, user, userinfo)
		for _, p := range pieces {
			secrets = append(secrets, strings.Split(p, ":")...)
		}
	}

	return secrets
}

// urlUserinfo returns the text between "://" and the last "@" of s, as
// written. The last '@' of the whole string counts, not of the authority:
// a password may hold the '/', '?' or '#' that would end an authority.
func urlUserinfo(s string) (string, bool) {
	_, rest, ok := strings.Cut(s, "://")
	if !ok {
		return "", false
	}

	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return "", false
	}

	return rest[:at], true
}

// displayHost is the part of a parsed host that may be shown: what follows
// its last '@'. pgx takes the host to start after the first '@' of a URL, so
// the tail of a password with an unescaped '@' ends up in front of it.
func displayHost(host string) string {
	if i := strings.LastIndex(host, "@"); i >= 0 {
		return host[i+1:]
	}

	return host
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
