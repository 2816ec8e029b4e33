package atlassim_test

import (
	"crypto/md5" //nolint:gosec // HTTP Digest as Atlas speaks it
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mongodb-forks/digest"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim"
)

func authSim(c *clock, sha256 bool) *atlassim.Server {
	sim := atlassim.New(atlassim.Config{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		PublicKey:    publicKey,
		PrivateKey:   privateKey,
		DigestSHA256: sha256,
		TokenTTL:     10 * time.Minute,
		NonceTTL:     time.Minute,
		Now:          c.Now,
	})
	seed(sim, 2)

	return sim
}

func digestClient(user, pass string, next http.RoundTripper) *http.Client {
	return &http.Client{Transport: digest.NewTransportWithHTTPRoundTripper(user, pass, next)}
}

func TestDigest(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		sha256 bool
		user   string
		pass   string
		status int
	}{
		{name: "md5", user: publicKey, pass: privateKey, status: http.StatusOK},
		{name: "sha-256", sha256: true, user: publicKey, pass: privateKey, status: http.StatusOK},
		{name: "wrong private key", user: publicKey, pass: "nope", status: http.StatusUnauthorized},
		{name: "unknown public key", user: "someone", pass: privateKey, status: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			sim := authSim(newClock(), tt.sha256)
			srv := start(t, sim)
			c := digestClient(tt.user, tt.pass, srv.Client().Transport)

			a := get(t, c, flexSnaps(srv.URL)+"?itemsPerPage=1&pageNum=2", atlassim.MediaTypeFlex)
			if tt.status == http.StatusOK {
				require.Equal(t, http.StatusOK, a.status, string(a.body))
			} else {
				requireAPIError(t, a, tt.status, atlassim.CodeUnauthorized)
			}

			log := sim.Requests()
			require.Len(t, log, 2, "a challenge, then the answer")
			require.Equal(t, atlassim.AuthNone, log[0].Auth)
			require.Equal(t, http.StatusUnauthorized, log[0].Status)
			require.Equal(t, atlassim.AuthDigest, log[1].Auth)
			require.Equal(t, "itemsPerPage=1&pageNum=2", log[1].Query)
		})
	}
}

func TestChallenge(t *testing.T) {
	t.Parallel()

	srv := start(t, authSim(newClock(), false))

	a := get(t, srv.Client(), flexSnaps(srv.URL), atlassim.MediaTypeFlex)
	requireAPIError(t, a, http.StatusUnauthorized, atlassim.CodeUnauthorized)

	ch := a.header.Get("WWW-Authenticate")
	require.Regexp(t, `^Digest realm="MMS Public API", nonce="[A-Za-z0-9_-]+", qop="auth", algorithm=MD5$`, ch)
}

// signDigest computes an MD5 qop=auth Authorization header by hand, so a
// test can reuse a nonce the way a long-lived client would.
func signDigest(method, uri, nonce string) string {
	h := func(s string) string {
		sum := md5.Sum([]byte(s)) //nolint:gosec // HTTP Digest
		return hex.EncodeToString(sum[:])
	}

	ha1 := h(publicKey + ":" + atlassim.Realm + ":" + privateKey)
	ha2 := h(method + ":" + uri)
	resp := h(ha1 + ":" + nonce + ":00000001:c0ffee:auth:" + ha2)

	return fmt.Sprintf(`Digest username=%q, realm=%q, nonce=%q, uri=%q, response=%q, algorithm=MD5, qop=auth, nc=00000001, cnonce="c0ffee"`,
		publicKey, atlassim.Realm, nonce, uri, resp)
}

func nonceOf(t *testing.T, challenge string) string {
	t.Helper()

	_, rest, ok := strings.Cut(challenge, `nonce="`)
	require.True(t, ok, challenge)
	nonce, _, _ := strings.Cut(rest, `"`)

	return nonce
}

func TestStaleNonce(t *testing.T) {
	t.Parallel()

	c := newClock()
	srv := start(t, authSim(c, false))
	uri := "/api/atlas/v2/groups/" + projectA + "/flexClusters/alpha/backup/snapshots"

	first := get(t, srv.Client(), srv.URL+uri, atlassim.MediaTypeFlex)
	nonce := nonceOf(t, first.header.Get("WWW-Authenticate"))

	fresh := get(t, srv.Client(), srv.URL+uri, atlassim.MediaTypeFlex, "Authorization", signDigest("GET", uri, nonce))
	require.Equal(t, http.StatusOK, fresh.status, string(fresh.body))

	c.Add(2 * time.Minute)
	stale := get(t, srv.Client(), srv.URL+uri, atlassim.MediaTypeFlex, "Authorization", signDigest("GET", uri, nonce))
	requireAPIError(t, stale, http.StatusUnauthorized, atlassim.CodeUnauthorized)
	require.True(t, strings.HasSuffix(stale.header.Get("WWW-Authenticate"), ", stale=true"))

	forged := get(t, srv.Client(), srv.URL+uri, atlassim.MediaTypeFlex, "Authorization", signDigest("GET", uri, "bm90LW91cnM"))
	require.Equal(t, http.StatusUnauthorized, forged.status)
	require.NotContains(t, forged.header.Get("WWW-Authenticate"), "stale")

	otherURI := get(t, srv.Client(), srv.URL+uri+"?pageNum=2", atlassim.MediaTypeFlex,
		"Authorization", signDigest("GET", uri, nonceOf(t, stale.header.Get("WWW-Authenticate"))))
	require.Equal(t, http.StatusUnauthorized, otherURI.status, "the digest covers the request URI")
}

// slowHands advances the clock between the digest library's challenge and
// its answer, so the nonce is stale when it comes back.
type slowHands struct {
	next  http.RoundTripper
	clock *clock
}

func (s slowHands) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") != "" {
		s.clock.Add(2 * time.Minute)
	}

	return s.next.RoundTrip(r)
}

// TestDigestLibraryStale shows what a client using mongodb-forks/digest sees
// when the nonce expires in flight: a 401 with stale=true handed back to the
// caller, which must retry.
func TestDigestLibraryStale(t *testing.T) {
	t.Parallel()

	c := newClock()
	srv := start(t, authSim(c, false))
	client := digestClient(publicKey, privateKey, slowHands{next: srv.Client().Transport, clock: c})

	a := get(t, client, flexSnaps(srv.URL), atlassim.MediaTypeFlex)
	require.Equal(t, http.StatusUnauthorized, a.status)
	require.Contains(t, a.header.Get("WWW-Authenticate"), "stale=true")

	ok := get(t, digestClient(publicKey, privateKey, srv.Client().Transport), flexSnaps(srv.URL), atlassim.MediaTypeFlex)
	require.Equal(t, http.StatusOK, ok.status)
}

func tokenConfig(base, secret string) *clientcredentials.Config {
	return &clientcredentials.Config{
		ClientID: clientID, ClientSecret: secret, TokenURL: base + "/api/oauth/token", AuthStyle: oauth2.AuthStyleInHeader,
	}
}

func TestBearer(t *testing.T) {
	t.Parallel()

	c := newClock()
	sim := authSim(c, false)
	srv := start(t, sim)

	tok, err := tokenConfig(srv.URL, clientSecret).Token(t.Context())
	require.NoError(t, err)
	require.Equal(t, "Bearer", tok.TokenType)
	require.WithinDuration(t, time.Now().Add(10*time.Minute), tok.Expiry, 10*time.Second)
	require.Equal(t, 1, sim.TokenRequests())

	bearer := "Bearer " + tok.AccessToken
	a := get(t, srv.Client(), flexSnaps(srv.URL), atlassim.MediaTypeFlex, "Authorization", bearer)
	require.Equal(t, http.StatusOK, a.status, string(a.body))

	c.Add(10 * time.Minute)
	expired := get(t, srv.Client(), flexSnaps(srv.URL), atlassim.MediaTypeFlex, "Authorization", bearer)
	requireAPIError(t, expired, http.StatusUnauthorized, atlassim.CodeExpiredToken)

	unknown := get(t, srv.Client(), flexSnaps(srv.URL), atlassim.MediaTypeFlex, "Authorization", "Bearer made-up")
	requireAPIError(t, unknown, http.StatusUnauthorized, atlassim.CodeUnauthorized)

	log := sim.Requests()
	require.Equal(t, atlassim.AuthBasic, log[0].Auth)
	require.Equal(t, atlassim.AuthBearer, log[1].Auth)
}

func TestTokenEndpoint(t *testing.T) {
	t.Parallel()

	sim := authSim(newClock(), false)
	srv := start(t, sim)

	_, err := tokenConfig(srv.URL, "wrong").Token(t.Context())
	require.ErrorContains(t, err, "invalid_client")

	resp, err := srv.Client().PostForm(srv.URL+"/api/oauth/token", url.Values{
		"grant_type": {"password"}, "client_id": {clientID}, "client_secret": {clientSecret},
	})
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	resp, err = srv.Client().Get(srv.URL + "/api/oauth/token")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	require.GreaterOrEqual(t, sim.TokenRequests(), 3)
	sim.ResetLog()
	require.Zero(t, sim.TokenRequests())
	require.Empty(t, sim.Requests())
}

func TestRevoke(t *testing.T) {
	t.Parallel()

	sim := authSim(newClock(), false)
	srv := start(t, sim)

	tok, err := tokenConfig(srv.URL, clientSecret).Token(t.Context())
	require.NoError(t, err)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/api/oauth/revoke",
		strings.NewReader(url.Values{"token": {tok.AccessToken}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, clientSecret)

	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)

	a := get(t, srv.Client(), flexSnaps(srv.URL), atlassim.MediaTypeFlex, "Authorization", "Bearer "+tok.AccessToken)
	require.Equal(t, http.StatusUnauthorized, a.status)
}
