package fetch

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mongodb-forks/digest"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// tokenPath is where Atlas exchanges service account credentials for a
// bearer token.
const tokenPath = "/api/oauth/token"

// tokenEarlyExpiry is at most how long before its stated expiry a token is
// replaced, so a request never leaves with a token that expires on the way.
const tokenEarlyExpiry = time.Minute

// TokenError is a refused OAuth token request, or an answer from the token
// endpoint that is not a token response at all (NotToken: an HTML sign-in
// page from a proxy, say). Neither is worth asking again unless the status
// says so. The credentials never reach an error message, and neither does
// the body of a refusal.
type TokenError struct {
	Status int
	Code   string

	// NotToken marks an answer that arrived whole but is not an OAuth token
	// response. URL is then the token endpoint, and Excerpt the start of the
	// body, left empty when the body is empty or might hold a credential.
	NotToken bool
	URL      string
	Excerpt  string
}

// Error names the status and the OAuth error code, or says what the
// endpoint answered instead of a token.
func (e *TokenError) Error() string {
	switch {
	case e.NotToken && e.Excerpt != "":
		return fmt.Sprintf("%s: %q", e.notTokenMessage(), e.Excerpt)
	case e.NotToken:
		return e.notTokenMessage()
	case e.Code == "":
		return fmt.Sprintf("fetch oauth token: status %d", e.Status)
	default:
		return fmt.Sprintf("fetch oauth token: status %d %s", e.Status, e.Code)
	}
}

// notTokenMessage is the message of a NotToken error without the excerpt.
func (e *TokenError) notTokenMessage() string {
	return fmt.Sprintf("fetch oauth token: the token endpoint at %s answered status %d "+
		"with something that is not an OAuth token response", e.URL, e.Status)
}

// authTransport wraps base with the configured credentials: a service
// account's bearer token, an API key's digest answer, or nothing.
func authTransport(cfg Config, base http.RoundTripper, log *slog.Logger) http.RoundTripper {
	switch {
	case cfg.ClientID != "" && cfg.ClientSecret != "":
		return &bearerTransport{tokens: newTokenCache(cfg, base), base: base, log: log}
	case cfg.PublicKey != "" && cfg.PrivateKey != "":
		return &staleNonceTransport{digest: digest.NewTransportWithHTTPRoundTripper(cfg.PublicKey, cfg.PrivateKey, base), log: log}
	default:
		return base
	}
}

// tokenCache is the one token of a Client: every goroutine gets the same
// token until shortly before it expires, and only one of them fetches a new
// one (the token endpoint is rate limited to a few requests a minute).
type tokenCache struct {
	conf *clientcredentials.Config
	http *http.Client
	now  func() time.Time

	mu      sync.Mutex
	tok     *oauth2.Token
	renewAt time.Time
}

// newTokenCache prepares, without fetching, the token source of a Client.
func newTokenCache(cfg Config, base http.RoundTripper) *tokenCache {
	return &tokenCache{
		conf: &clientcredentials.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			TokenURL:     cfg.BaseURL + tokenPath,
			AuthStyle:    oauth2.AuthStyleInHeader,
		},
		http: &http.Client{
			Transport:     base,
			Timeout:       cfg.RequestTimeout,
			CheckRedirect: refuseCrossHost,
		},
		now: time.Now,
	}
}

// token returns the cached token, fetching one when there is none or it is
// close to expiry.
func (c *tokenCache) token(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()

	if c.tok != nil && c.now().Before(c.renewAt) {
		return c.tok.AccessToken, nil
	}

	tok, err := c.fetch(ctx)
	if err != nil {
		return "", err
	}

	c.tok = tok
	c.renewAt = renewTime(c.now(), tok.Expiry)

	return tok.AccessToken, nil
}

// renewTime is when a token fetched at now and expiring at expiry should be
// replaced: a quarter of its life early, but at most tokenEarlyExpiry early.
// A token without an expiry is kept for an hour.
func renewTime(now, expiry time.Time) time.Time {
	if expiry.IsZero() {
		return now.Add(time.Hour)
	}

	early := min(expiry.Sub(now)/4, tokenEarlyExpiry)

	return expiry.Add(-early)
}

// invalidate drops tok if it is still the cached one, so the next request
// fetches a fresh token (Atlas refused it: revoked, or expired early).
func (c *tokenCache) invalidate(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()

	if c.tok != nil && c.tok.AccessToken == tok {
		c.tok = nil
	}
}

// fetch asks the token endpoint for a new token and strips any refusal down
// to a TokenError. An answer that arrived whole but cannot be read as a
// token is a TokenError too, so it is not retried like a network failure.
func (c *tokenCache) fetch(ctx context.Context) (*oauth2.Token, error) {
	answer := &tokenAnswer{base: c.http.Transport}
	hc := *c.http
	hc.Transport = answer
	ctx = context.WithValue(ctx, oauth2.HTTPClient, &hc)

	tok, err := c.conf.Token(ctx)
	if err == nil {
		return tok, nil
	}

	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return nil, refusal(re)
	}

	// The HTTP client's own failures (the network, a refused redirect)
	// come as *url.Error; an answer the oauth2 package could not read as a
	// token does not.
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return nil, fmt.Errorf("fetch oauth token: %w", uerr.Err)
	}

	if answer.whole() {
		return nil, c.notToken(answer)
	}

	return nil, fmt.Errorf("fetch oauth token: %w", err)
}

// refusal turns an error status from the token endpoint into a TokenError.
func refusal(re *oauth2.RetrieveError) *TokenError {
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}

	return &TokenError{Status: status, Code: re.ErrorCode}
}

// notToken describes an answer that the oauth2 package could not read as a
// token: its status, and an excerpt of its body unless the body names a
// credential or an access token.
func (c *tokenCache) notToken(answer *tokenAnswer) *TokenError {
	e := &TokenError{Status: answer.status, NotToken: true, URL: c.conf.TokenURL}
	if !c.mayHoldCredential(answer.head) {
		e.Excerpt = excerpt(answer.head, tokenExcerptLen)
	}

	return e
}

// mayHoldCredential reports whether body contains the client secret in any
// form the token request sent it, or anything called an access token: a
// proxy's debug page may echo the request, and a token in a body the oauth2
// package could not parse is still a token.
func (c *tokenCache) mayHoldCredential(body []byte) bool {
	basic := url.QueryEscape(c.conf.ClientID) + ":" + url.QueryEscape(c.conf.ClientSecret)
	for _, s := range []string{
		c.conf.ClientSecret,
		url.QueryEscape(c.conf.ClientSecret),
		base64.StdEncoding.EncodeToString([]byte(basic)),
		"access_token",
	} {
		if bytes.Contains(body, []byte(s)) {
			return true
		}
	}

	return false
}

// tokenExcerptLen bounds, in runes, the excerpt of a token endpoint answer
// that is not a token response; tokenHeadBytes is how much of the body is
// kept to make it, and to look for credentials in.
const (
	tokenExcerptLen = 80
	tokenHeadBytes  = 1 << 10
)

// tokenAnswer is the transport of one token request. It remembers the
// status and the start of the body of the answer, which the oauth2 package
// leaves out of the error for a body it cannot parse, and whether reading
// the body failed (a cut connection is a network failure, not an answer).
type tokenAnswer struct {
	base    http.RoundTripper
	status  int
	head    []byte
	readErr error
}

// RoundTrip sends req and records what comes back as it is read.
func (a *tokenAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := a.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}

	a.status, a.head, a.readErr = resp.StatusCode, nil, nil
	resp.Body = &headRecorder{ReadCloser: resp.Body, answer: a}

	return resp, nil
}

// whole reports whether an answer arrived and its body was read without a
// network failure.
func (a *tokenAnswer) whole() bool {
	return a.status != 0 && a.readErr == nil
}

// headRecorder passes a body on, keeping its first tokenHeadBytes and any
// read error other than the end of the body in its tokenAnswer.
type headRecorder struct {
	io.ReadCloser
	answer *tokenAnswer
}

// Read reads from the body and records what it read.
func (r *headRecorder) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)

	keep := max(min(n, tokenHeadBytes-len(r.answer.head)), 0)
	r.answer.head = append(r.answer.head, p[:keep]...)
	if err != nil && !errors.Is(err, io.EOF) {
		r.answer.readErr = err
	}

	return n, err
}

// bearerTransport sends every request with the Client's bearer token. When
// Atlas answers 401, the token is dropped and the request sent once more
// with a fresh one.
type bearerTransport struct {
	tokens *tokenCache
	base   http.RoundTripper
	log    *slog.Logger
}

// RoundTrip sends req with the current token, renewing it once on a 401.
func (t *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, tok, err := t.send(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || req.Body != nil {
		return resp, err
	}

	t.log.InfoContext(req.Context(), "atlas refused the access token, fetching a new one", "path", req.URL.Path)
	t.tokens.invalidate(tok)
	drain(resp)

	resp, _, err = t.send(req)

	return resp, err
}

// send sends a copy of req with the cached token and says which token.
func (t *bearerTransport) send(req *http.Request) (*http.Response, string, error) {
	tok, err := t.tokens.token(req.Context())
	if err != nil {
		return nil, "", err
	}

	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok)

	resp, err := t.base.RoundTrip(r)

	return resp, tok, err
}

// drain reads a little of a discarded answer and closes it, so the
// connection can be reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

// refuseCrossHost is the http.Client redirect policy: a redirect may stay on
// the same scheme and host, and nothing else, because the auth transports
// would attach credentials to whatever host the redirect names.
func refuseCrossHost(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}

	first := via[0].URL
	if req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
		return fmt.Errorf("%w: %s to %s://%s", errRedirectRefused, first.Host, req.URL.Scheme, req.URL.Host)
	}

	return nil
}

// staleNonceTransport answers a Digest 401 with stale=true once more. The
// digest library asks for a fresh challenge on every request, so a nonce
// goes stale only when the answer is slow to follow its challenge (a long
// pause, a stalled connection); Atlas then says the credentials were right
// and only the nonce expired, which a fresh challenge fixes.
type staleNonceTransport struct {
	digest http.RoundTripper
	log    *slog.Logger
}

// RoundTrip sends req through the digest transport, and once more when the
// answer is a stale-nonce 401.
func (t *staleNonceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.digest.RoundTrip(req)
	if err != nil || !staleNonce(resp) || req.Body != nil {
		return resp, err
	}

	t.log.InfoContext(req.Context(), "atlas digest nonce went stale, answering a fresh challenge", "path", req.URL.Path)
	drain(resp)

	return t.digest.RoundTrip(req)
}

// staleNonce reports whether resp is a Digest challenge with stale=true.
func staleNonce(resp *http.Response) bool {
	if resp.StatusCode != http.StatusUnauthorized {
		return false
	}

	for _, v := range resp.Header.Values("WWW-Authenticate") {
		for part := range strings.SplitSeq(v, ",") {
			k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
			if strings.EqualFold(k, "stale") && strings.EqualFold(strings.Trim(val, `"`), "true") {
				return true
			}
		}
	}

	return false
}

// userAgentTransport sets the User-Agent on every request it passes on.
type userAgentTransport struct {
	base http.RoundTripper
	ua   string
}

// RoundTrip sets the User-Agent on a copy of req and sends it.
func (t *userAgentTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("User-Agent", t.ua)

	return t.base.RoundTrip(r)
}

// userAgent wraps base so every request, token requests included, names the
// exporter.
func userAgent(base http.RoundTripper, ua string) http.RoundTripper {
	return &userAgentTransport{base: base, ua: ua}
}
