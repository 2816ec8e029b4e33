package fetch

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	testClientID     = "mdb_sa_id_0123"
	testClientSecret = "mdb_sa_sk_very-secret-value"
	testToken        = "eyJ-access-token-that-must-not-leak"
)

// tokenServer answers the OAuth token endpoint (checking HTTP Basic
// credentials and the grant type) and passes API requests that carry the
// current bearer token to api.
type tokenServer struct {
	api       http.Handler
	tokenTTL  int
	tokens    atomic.Int32
	refuseAPI atomic.Int32 // API requests still to refuse with 401
	tokenCode int          // status for token requests, 0 = 200
}

func (s *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == tokenPath {
		s.serveToken(w, r)
		return
	}

	if r.Header.Get("Authorization") != "Bearer "+s.currentToken() || s.refuseAPI.Add(-1) >= 0 {
		writeAtlasError(w, http.StatusUnauthorized, "UNAUTHORIZED", "bad token")
		return
	}

	s.api.ServeHTTP(w, r)
}

func (s *tokenServer) currentToken() string {
	return testToken + "-" + string(rune('0'+s.tokens.Load()))
}

func (s *tokenServer) serveToken(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if s.tokenCode != 0 || !ok || id != testClientID || secret != testClientSecret ||
		r.Method != http.MethodPost || r.FormValue("grant_type") != "client_credentials" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(max(s.tokenCode, http.StatusUnauthorized))
		_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"echo ` + secret + `"}`))

		return
	}

	s.tokens.Add(1)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": s.currentToken(), "token_type": "Bearer", "expires_in": s.tokenTTL,
	})
}

// oauthConfig sets service account credentials.
func oauthConfig(cfg *Config) {
	cfg.ClientID, cfg.ClientSecret = testClientID, testClientSecret
}

func TestOAuthOneTokenAcrossGoroutines(t *testing.T) {
	t.Parallel()

	ts := &tokenServer{api: &pagedHandler{}, tokenTTL: 3600}
	c, logs := newTestClient(t, ts, oauthConfig)

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, _, err := collect(t.Context(), c, flexInstance("prod"))
			errs <- err
		})
	}

	wg.Wait()
	close(errs)

	for err := range errs {
		require.NoError(t, err)
	}

	require.Equal(t, int32(1), ts.tokens.Load())
	require.NotContains(t, logs.String(), testToken)
	require.NotContains(t, logs.String(), testClientSecret)
}

func TestOAuthRenewsTokenRefusedByAtlas(t *testing.T) {
	t.Parallel()

	ts := &tokenServer{api: &pagedHandler{}, tokenTTL: 3600}
	c, logs := newTestClient(t, ts, oauthConfig)

	_, _, err := collect(t.Context(), c, flexInstance("prod"))
	require.NoError(t, err)

	ts.refuseAPI.Store(1)
	_, stats, err := collect(t.Context(), c, flexInstance("prod"))
	require.NoError(t, err)
	require.Equal(t, int32(2), ts.tokens.Load())
	require.Equal(t, 1, stats.Requests)
	require.Equal(t, 1, logs.count("atlas refused the access token, fetching a new one"))
}

func TestOAuthRefusedCredentialsLeakNothing(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		tokenCode int
		secret    string
		requests  int
	}{
		{name: "wrong secret", secret: "wrong-" + testClientSecret, requests: 1},
		{name: "token endpoint down is retried", tokenCode: http.StatusServiceUnavailable, secret: testClientSecret, requests: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			ts := &tokenServer{api: &pagedHandler{}, tokenTTL: 3600, tokenCode: tt.tokenCode}
			c, logs := newTestClient(t, ts, func(cfg *Config) {
				cfg.ClientID, cfg.ClientSecret = testClientID, tt.secret
			})

			_, stats, err := collect(t.Context(), c, flexInstance("prod"))
			require.Error(t, err)
			require.Equal(t, tt.requests, stats.Requests)

			var te *TokenError
			require.ErrorAs(t, err, &te)
			require.Equal(t, max(tt.tokenCode, 401), te.Status)
			require.NotContains(t, err.Error(), tt.secret)
			require.NotContains(t, logs.String(), tt.secret)
		})
	}
}

// A token endpoint answering 200 with a body that is not a token (a proxy's
// HTML sign-in page) was taken for a network failure: the "cannot parse
// json" error was retried six times, two token requests each. It is now one
// token request and a permanent TokenError that says what came back, with
// no credential in it.
func TestOAuthAnswerThatIsNotATokenIsNotRetried(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name        string
		contentType string
		body        string
		want        string
	}{
		{
			name:        "html sign-in page",
			contentType: "text/html; charset=utf-8",
			body:        "<!DOCTYPE html>\n<html><body>\n  <h1>Sign in to Example Corp proxy</h1></body></html>",
			want:        `: "<!DOCTYPE html> <html><body> <h1>Sign in to Example Corp proxy</h1></body></html..."`,
		},
		{
			name:        "json without an access token",
			contentType: "application/json",
			body:        `{"status":"ok"}`,
			want:        `: "{\"status\":\"ok\"}"`,
		},
		{
			name:        "page echoing the client secret",
			contentType: "text/html",
			body:        "<pre>client_secret=" + testClientSecret + "</pre>",
			want:        "token response",
		},
		{
			name:        "page echoing the basic credentials",
			contentType: "text/html",
			body:        "<pre>Authorization: Basic " + basicCredentials() + "</pre>",
			want:        "token response",
		},
		{
			name:        "truncated token",
			contentType: "application/json",
			body:        `{"access_token":"` + testToken,
			want:        "token response",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			var tokenRequests atomic.Int32
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == tokenPath {
					tokenRequests.Add(1)
				}

				w.Header().Set("Content-Type", tt.contentType)
				_, _ = w.Write([]byte(tt.body))
			})
			c, logs := newTestClient(t, h, oauthConfig)

			_, stats, err := collect(t.Context(), c, flexInstance("prod"))

			var te *TokenError
			require.ErrorAs(t, err, &te)
			require.True(t, te.NotToken)
			require.Equal(t, http.StatusOK, te.Status)
			require.Equal(t, int32(1), tokenRequests.Load(), "the token request is not retried")
			require.Equal(t, 1, stats.Requests)

			msg := err.Error()
			require.Contains(t, msg, "the token endpoint at "+c.cfg.BaseURL+tokenPath+" answered status 200 "+
				"with something that is not an OAuth token response")
			require.True(t, strings.HasSuffix(msg, tt.want), "got %s", msg)
			for _, secret := range []string{testClientSecret, basicCredentials(), testToken} {
				require.NotContains(t, msg, secret)
				require.NotContains(t, logs.String(), secret)
			}
		})
	}
}

// A token endpoint that cannot be reached, or whose answer is cut off, is a
// network failure: it is retried, not taken for an answer.
func TestOAuthTokenNetworkFailureIsRetried(t *testing.T) {
	t.Parallel()

	cutOff := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Length", "1000")
		_, _ = w.Write([]byte("<html>"))
	}))
	t.Cleanup(cutOff.Close)

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	tests := []struct {
		name string
		url  string
	}{
		{name: "connection refused", url: closed.URL},
		{name: "body cut off", url: cutOff.URL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			cfg := testConfig(tt.url, &logBuffer{})
			oauthConfig(&cfg)
			c, err := NewClient(cfg)
			require.NoError(t, err)

			_, stats, err := collect(t.Context(), c, flexInstance("prod"))
			require.ErrorContains(t, err, "fetch oauth token")
			require.NotErrorAs(t, err, new(*TokenError))
			require.Equal(t, cfg.MaxRetries+1, stats.Requests)
		})
	}
}

// basicCredentials is the HTTP Basic value of the test service account.
func basicCredentials() string {
	return base64.StdEncoding.EncodeToString([]byte(testClientID + ":" + testClientSecret))
}

func TestRenewTime(t *testing.T) {
	t.Parallel()

	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		expiry time.Time
		want   time.Time
	}{
		{name: "one hour token renewed a minute early", expiry: now.Add(time.Hour), want: now.Add(59 * time.Minute)},
		{name: "short token renewed a quarter early", expiry: now.Add(8 * time.Second), want: now.Add(6 * time.Second)},
		{name: "no expiry kept an hour", want: now.Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			require.Equal(t, tt.want, renewTime(now, tt.expiry))
		})
	}
}

func TestDigestAuth(t *testing.T) {
	t.Parallel()

	var challenged, answered atomic.Int32
	api := &pagedHandler{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if !strings.HasPrefix(auth, "Digest ") {
			challenged.Add(1)
			w.Header().Set("WWW-Authenticate", `Digest realm="MMS Public API", domain="", nonce="abc123", algorithm=MD5, qop="auth", stale=false`)
			writeAtlasError(w, http.StatusUnauthorized, "UNAUTHORIZED", "digest required")

			return
		}

		if !strings.Contains(auth, `username="pubkey"`) || !strings.Contains(auth, `nonce="abc123"`) ||
			strings.Contains(auth, "private-key-secret") {
			writeAtlasError(w, http.StatusBadRequest, "BAD_DIGEST", auth)
			return
		}

		answered.Add(1)
		api.ServeHTTP(w, r)
	})

	c, _ := newTestClient(t, h, func(cfg *Config) { cfg.PublicKey, cfg.PrivateKey = "pubkey", "private-key-secret" })

	_, stats, err := collect(t.Context(), c, flexInstance("prod"))
	require.NoError(t, err)
	require.Equal(t, int32(1), challenged.Load())
	require.Equal(t, int32(1), answered.Load())
	require.Equal(t, 1, stats.Requests)
}

func TestCrossHostRedirectRefused(t *testing.T) {
	t.Parallel()

	var leaked atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Add(1)
		}
		okPage(w)
	}))
	t.Cleanup(other.Close)

	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusFound)
	})
	ts := &tokenServer{api: redirect, tokenTTL: 3600}
	c, _ := newTestClient(t, ts, oauthConfig)

	_, stats, err := collect(t.Context(), c, flexInstance("prod"))
	require.ErrorContains(t, err, "redirect to another host refused")
	require.NotContains(t, err.Error(), testToken)
	require.Equal(t, 1, stats.Requests, "a refused redirect is not retried")
	require.Zero(t, leaked.Load())
}

func TestSameHostRedirectFollowed(t *testing.T) {
	t.Parallel()

	api := &pagedHandler{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/moved") {
			http.Redirect(w, r, "/moved"+r.URL.RequestURI(), http.StatusTemporaryRedirect)
			return
		}
		api.ServeHTTP(w, r)
	})
	c, _ := newTestClient(t, h, nil)

	_, _, err := collect(t.Context(), c, flexInstance("prod"))
	require.NoError(t, err)
}

func TestConfigMasksSecrets(t *testing.T) {
	t.Parallel()

	cfg := Config{ClientID: "id", ClientSecret: "s3cret", PublicKey: "pub", PrivateKey: "pr1vate"}
	for _, s := range []string{cfg.String(), cfg.GoString(), cfg.LogValue().String()} {
		require.NotContains(t, s, "s3cret")
		require.NotContains(t, s, "pr1vate")
		require.Contains(t, s, "***")
	}
}

func TestNewClientConfig(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "half a service account", cfg: Config{ClientID: "id"}, want: "client secret"},
		{name: "half an api key", cfg: Config{PrivateKey: "k"}, want: "public and private key"},
		{name: "page size too big", cfg: Config{PageSize: 501}, want: "page size 501"},
		{name: "base url without scheme", cfg: Config{BaseURL: "cloud.mongodb.com"}, want: "not an http(s) url"},
		{name: "base url with user info", cfg: Config{BaseURL: "https://u:p@cloud.mongodb.com"}, want: "user info"},
		{name: "negative retries", cfg: Config{MaxRetries: -1}, want: "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			_, err := NewClient(tt.cfg)
			require.ErrorContains(t, err, tt.want)
			require.NotContains(t, err.Error(), ":p@")
		})
	}

	c, err := NewClient(Config{BaseURL: "https://cloud.mongodb.com/"})
	require.NoError(t, err)
	require.Equal(t, "https://cloud.mongodb.com", c.cfg.BaseURL)
	require.Equal(t, DefaultPageSize, c.cfg.PageSize)
}
