package atlassim

import (
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // HTTP Digest as Atlas speaks it
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// AuthScheme names how a request authenticated, in the request log.
type AuthScheme string

// Authentication schemes seen by the simulator.
const (
	AuthNone   AuthScheme = ""
	AuthDigest AuthScheme = "digest"
	AuthBearer AuthScheme = "bearer"
	AuthBasic  AuthScheme = "basic" // the OAuth token and revoke endpoints
)

// authenticator checks Bearer tokens and Digest credentials. Digest nonces
// are stateless: the issue time signed with a per-server key.
type authenticator struct {
	cfg      Config
	now      func() time.Time
	nonceKey []byte

	mu     sync.RWMutex
	tokens map[string]time.Time // access token to expiry
	issued []string             // every access token ever issued, for leak checks
}

func newAuthenticator(cfg Config, now func() time.Time) *authenticator {
	key := make([]byte, 32)
	_, _ = rand.Read(key)

	return &authenticator{cfg: cfg, now: now, nonceKey: key, tokens: make(map[string]time.Time)}
}

// check authenticates an API request, answering 401 itself when it fails.
func (a *authenticator) check(w http.ResponseWriter, r *http.Request) (AuthScheme, bool) {
	if a.cfg.NoAuth {
		return AuthNone, true
	}

	h := r.Header.Get("Authorization")
	scheme, rest, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return AuthBearer, a.checkBearer(w, strings.TrimSpace(rest))
	case strings.EqualFold(scheme, "Digest"):
		return AuthDigest, a.checkDigest(w, r, rest)
	default:
		a.challenge(w, false, CodeUnauthorized, "You are not authorized for this resource.")
		return AuthNone, false
	}
}

// checkBearer accepts a token issued by this server and not yet expired.
func (a *authenticator) checkBearer(w http.ResponseWriter, token string) bool {
	a.mu.RLock()
	exp, ok := a.tokens[token]
	a.mu.RUnlock()

	switch {
	case !ok:
		a.challenge(w, false, CodeUnauthorized, "Invalid or revoked access token.")
		return false
	case !a.now().Before(exp):
		a.challenge(w, false, CodeExpiredToken, "The access token has expired.")
		return false
	default:
		return true
	}
}

// checkDigest verifies an RFC 7616 response with qop=auth. A correct
// response over an expired nonce gets 401 with stale=true.
func (a *authenticator) checkDigest(w http.ResponseWriter, r *http.Request, header string) bool {
	p := parseDigestParams(header)
	if !a.digestValid(r, p) {
		a.challenge(w, false, CodeUnauthorized, "You are not authorized for this resource.")
		return false
	}

	issued, ok := a.nonceIssued(p["nonce"])
	if !ok {
		a.challenge(w, false, CodeUnauthorized, "Invalid digest nonce.")
		return false
	}

	if a.now().Sub(issued) > a.cfg.NonceTTL {
		a.challenge(w, true, CodeUnauthorized, "The digest nonce has expired.")
		return false
	}

	return true
}

// digestValid checks user, realm, uri, qop, algorithm and the response hash.
func (a *authenticator) digestValid(r *http.Request, p map[string]string) bool {
	if a.cfg.PublicKey == "" || p["username"] != a.cfg.PublicKey || p["realm"] != Realm {
		return false
	}

	if p["uri"] != requestURI(r) || p["qop"] != "auth" || p["nc"] == "" || p["cnonce"] == "" {
		return false
	}

	alg := p["algorithm"]
	if alg == "" {
		alg = "MD5"
	}

	if !strings.EqualFold(alg, a.algorithm()) {
		return false
	}

	newHash := md5.New
	if a.cfg.DigestSHA256 {
		newHash = sha256.New
	}

	ha1 := hexHash(newHash, a.cfg.PublicKey+":"+Realm+":"+a.cfg.PrivateKey)
	ha2 := hexHash(newHash, r.Method+":"+p["uri"])
	want := hexHash(newHash, ha1+":"+p["nonce"]+":"+p["nc"]+":"+p["cnonce"]+":auth:"+ha2)

	return subtle.ConstantTimeCompare([]byte(want), []byte(p["response"])) == 1
}

func (a *authenticator) algorithm() string {
	if a.cfg.DigestSHA256 {
		return "SHA-256"
	}

	return "MD5"
}

// challenge answers 401 with a fresh Digest challenge and an Atlas error
// body.
func (a *authenticator) challenge(w http.ResponseWriter, stale bool, code, detail string) {
	v := `Digest realm="` + Realm + `", nonce="` + a.newNonce() + `", qop="auth", algorithm=` + a.algorithm()
	if stale {
		v += ", stale=true"
	}

	w.Header().Set("WWW-Authenticate", v)
	writeError(w, http.StatusUnauthorized, code, detail)
}

// newNonce signs the current time.
func (a *authenticator) newNonce() string {
	var b [8 + 16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(a.now().UnixNano()))
	copy(b[8:], a.sign(b[:8]))

	return base64.RawURLEncoding.EncodeToString(b[:])
}

// nonceIssued returns when a nonce was issued, if this server signed it.
func (a *authenticator) nonceIssued(nonce string) (time.Time, bool) {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != 24 || !hmac.Equal(b[8:], a.sign(b[:8])) {
		return time.Time{}, false
	}

	return time.Unix(0, int64(binary.BigEndian.Uint64(b[:8]))), true
}

func (a *authenticator) sign(b []byte) []byte {
	m := hmac.New(sha256.New, a.nonceKey)
	m.Write(b)

	return m.Sum(nil)[:16]
}

// issue creates an access token and forgets expired ones.
func (a *authenticator) issue() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	token := "simtok_" + hex.EncodeToString(b)
	now := a.now()

	a.mu.Lock()
	defer a.mu.Unlock()

	for t, exp := range a.tokens {
		if !now.Before(exp) {
			delete(a.tokens, t)
		}
	}
	a.tokens[token] = now.Add(a.cfg.TokenTTL)
	a.issued = append(a.issued, token)

	return token
}

func (a *authenticator) revoke(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()

	delete(a.tokens, token)
}

// clientOK checks the service account in HTTP Basic or in the form.
func (a *authenticator) clientOK(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}

	return a.cfg.ClientID != "" &&
		subtle.ConstantTimeCompare([]byte(id), []byte(a.cfg.ClientID)) == 1 &&
		subtle.ConstantTimeCompare([]byte(secret), []byte(a.cfg.ClientSecret)) == 1
}

// serveToken is POST /api/oauth/token, the client credentials grant.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	s.tokenReqs.Add(1)
	if s.applyFault(w, r, &s.interceptToken, func(w http.ResponseWriter) { s.issueToken(w, r) }) {
		return
	}

	s.issueToken(w, r)
}

// issueToken answers a token request.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request) {
	if !s.oauthRequest(w, r) {
		return
	}

	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}

	body, _ := json.Marshal(map[string]any{
		"access_token": s.auth.issue(),
		"expires_in":   int(s.cfg.TokenTTL / time.Second),
		"token_type":   "Bearer",
	})
	w.Header().Set("Cache-Control", "no-store")
	writeBody(w, http.StatusOK, "application/json", body)
}

// serveRevoke is POST /api/oauth/revoke.
func (s *Server) serveRevoke(w http.ResponseWriter, r *http.Request) {
	if !s.oauthRequest(w, r) {
		return
	}

	s.auth.revoke(r.PostForm.Get("token"))
	w.WriteHeader(http.StatusOK)
}

// oauthRequest checks method, form and client credentials of an OAuth call.
func (s *Server) oauthRequest(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request")
		return false
	}

	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request")
		return false
	}

	if !s.auth.clientOK(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+Realm+`"`)
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client")
		return false
	}

	return true
}

// writeOAuthError answers in the RFC 6749 error format.
func writeOAuthError(w http.ResponseWriter, status int, code string) {
	body := []byte(`{"error":` + strconv.Quote(code) + `}`)
	writeBody(w, status, "application/json", body)
}

// IssuedTokens returns every access token the server has issued, expired and
// revoked ones included, oldest first, so tests can check that none of them
// leaked into logs or output.
func (s *Server) IssuedTokens() []string {
	s.auth.mu.RLock()
	defer s.auth.mu.RUnlock()

	return append([]string(nil), s.auth.issued...)
}

// TokenRequests counts calls to the token endpoint, successful or not.
func (s *Server) TokenRequests() int {
	return int(s.tokenReqs.Load())
}

func hexHash(newHash func() hash.Hash, s string) string {
	h := newHash()
	h.Write([]byte(s))

	return hex.EncodeToString(h.Sum(nil))
}

// requestURI is the request target as the client sent it.
func requestURI(r *http.Request) string {
	if r.RequestURI != "" {
		return r.RequestURI
	}

	return r.URL.RequestURI()
}

// parseDigestParams splits the comma-separated key=value list of a Digest
// Authorization header; values may be quoted and contain commas.
func parseDigestParams(s string) map[string]string {
	p := make(map[string]string, 10)
	for {
		s = strings.TrimLeft(s, " ,\t")
		key, rest, ok := strings.Cut(s, "=")
		if !ok {
			return p
		}

		var val string
		val, s = digestValue(rest)
		p[strings.ToLower(strings.TrimSpace(key))] = val
	}
}

// digestValue reads one value, quoted or not, and returns the remainder.
func digestValue(s string) (string, string) {
	if !strings.HasPrefix(s, `"`) {
		v, rest, _ := strings.Cut(s, ",")
		return strings.TrimSpace(v), rest
	}

	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(s[i])
		}
	}

	return b.String(), ""
}
