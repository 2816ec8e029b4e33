// Package atlassim is an in-process fake of the MongoDB Atlas Administration
// API v2, limited to what the exporter reads: projects, Flex clusters,
// Serverless instances and their backup snapshots, plus the OAuth token
// endpoint.
//
// It speaks the real wire format (versioned media types, Digest and Bearer
// authentication, Atlas error bodies, offset pagination, rate limits) so that
// tests, the demo command and benchmarks exercise the exporter the way Atlas
// would. A Server is an http.Handler and every method is safe for concurrent
// use. Methods that change data panic on misuse (an unknown project or
// instance): those are mistakes in the calling test, not runtime conditions.
package atlassim

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

// Media types of the two API versions the exporter uses.
const (
	MediaTypeFlex       = "application/vnd.atlas.2024-11-13+json"
	MediaTypeServerless = "application/vnd.atlas.2023-01-01+json"
	MediaTypeProjects   = "application/vnd.atlas.2023-01-01+json"
)

// Realm is the HTTP Digest realm Atlas announces.
const Realm = "MMS Public API"

const (
	defaultTokenTTL = time.Hour
	defaultNonceTTL = 5 * time.Minute
	apiPrefix       = "/api/atlas/v2/groups"
	tokenPath       = "/api/oauth/token"
	revokePath      = "/api/oauth/revoke"
)

// Config holds the simulator's settings. The zero value serves data to
// nobody: set the credentials the client will use, or NoAuth.
type Config struct {
	// ClientID and ClientSecret are the service account accepted by the
	// token endpoint. An empty ClientID refuses every token request.
	ClientID, ClientSecret string

	// PublicKey and PrivateKey are the API key accepted through HTTP
	// Digest. An empty PublicKey refuses every Digest attempt.
	PublicKey, PrivateKey string

	// DigestSHA256 makes the Digest challenge ask for SHA-256 instead of
	// MD5.
	DigestSHA256 bool

	// NoAuth serves API requests without any credentials.
	NoAuth bool

	// TokenTTL is the lifetime of issued access tokens (default 1h).
	TokenTTL time.Duration

	// NonceTTL is how long a Digest nonce is accepted before the answer is
	// 401 with stale=true (default 5m).
	NonceTTL time.Duration

	// Latency delays every request, as a network round trip would.
	Latency time.Duration

	// RateLimit, when set, enforces a token bucket per project.
	RateLimit *RateLimit

	// NoDeprecationHeaders stops the Deprecation and Sunset headers that
	// Serverless endpoints otherwise send.
	NoDeprecationHeaders bool

	// NoRequestLog stops recording requests (benchmarks).
	NoRequestLog bool

	// Now replaces the clock (token expiry, nonce expiry, rate limits).
	Now func() time.Time
}

// Server is the simulator. It implements http.Handler.
type Server struct {
	cfg  Config
	now  func() time.Time
	auth *authenticator
	rate *limiter

	mu       sync.RWMutex
	projects map[string]*project
	order    []*project
	retired  map[atlas.Family]bool
	emptySLS bool

	intercept      atomic.Pointer[interceptor]
	interceptToken atomic.Pointer[interceptor]
	onPage         atomic.Pointer[func(projectID, instance string, page int)]
	miscount       atomic.Pointer[func(projectID, instance string) int]

	logMu     sync.Mutex
	log       []Request
	tokenReqs atomic.Int64
}

// New returns a simulator with no projects.
func New(cfg Config) *Server {
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = defaultTokenTTL
	}

	if cfg.NonceTTL <= 0 {
		cfg.NonceTTL = defaultNonceTTL
	}

	now := cfg.Now
	if now == nil {
		now = time.Now
	}

	s := &Server{
		cfg:      cfg,
		now:      now,
		auth:     newAuthenticator(cfg, now),
		projects: make(map[string]*project),
		retired:  make(map[atlas.Family]bool),
	}
	if cfg.RateLimit != nil {
		s.rate = newLimiter(*cfg.RateLimit)
	}

	return s
}

// ServeHTTP answers one request the way Atlas would.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	entry := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Time: s.now()}
	defer func() {
		entry.Status = sw.status
		s.record(entry)
	}()

	if !s.wait(r, s.cfg.Latency) {
		return
	}

	switch r.URL.Path {
	case tokenPath:
		entry.Auth = AuthBasic
		s.serveToken(sw, r)
	case revokePath:
		entry.Auth = AuthBasic
		s.serveRevoke(sw, r)
	default:
		entry.Auth = s.serveAPI(sw, r)
	}
}

// serveAPI runs an API request through authentication, faults, version
// negotiation and rate limiting before answering it.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) AuthScheme {
	rt, ok := parseRoute(r.URL.Path)
	if !ok {
		writeError(w, http.StatusNotFound, CodeResourceNotFound, "Cannot find resource "+r.URL.Path+".", r.URL.Path)
		return AuthNone
	}

	scheme, ok := s.auth.check(w, r)
	if !ok {
		return scheme
	}

	if s.applyFault(w, r, &s.intercept, func(w http.ResponseWriter) { s.serveRoute(w, r, rt) }) {
		return scheme
	}

	s.serveRoute(w, r, rt)

	return scheme
}

// serveRoute answers an authenticated API request.
func (s *Server) serveRoute(w http.ResponseWriter, r *http.Request, rt route) {
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "Method "+r.Method+" is not allowed.", r.Method)
		return
	}

	if !s.negotiate(w, r, rt) {
		return
	}

	if !s.limit(w, rt.projectID) {
		return
	}

	if rt.family == atlas.Serverless && !s.cfg.NoDeprecationHeaders {
		setDeprecation(w.Header(), rt)
	}

	s.dispatch(w, r, rt)
}

// negotiate checks the Accept header against the route's only version and
// refuses retired families.
func (s *Server) negotiate(w http.ResponseWriter, r *http.Request, rt route) bool {
	want := rt.mediaType()
	if !accepts(r.Header.Values("Accept"), want) {
		writeError(w, http.StatusNotAcceptable, CodeInvalidVersion,
			"Invalid accept header or version date; this resource requires "+want+".", want)
		return false
	}

	if rt.family != "" && s.isRetired(rt.family) {
		writeError(w, http.StatusGone, CodeVersionGone,
			"The API version "+want+" for this resource has been removed.", want)
		return false
	}

	return true
}

// accepts reports whether any Accept value lists want, ignoring parameters.
func accepts(values []string, want string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			mt, _, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(mt), want) {
				return true
			}
		}
	}

	return false
}

// setDeprecation adds the headers Atlas sends on deprecated Serverless
// endpoints, with each endpoint's documented sunset date.
func setDeprecation(h http.Header, rt route) {
	sunset := time.Date(2026, time.January, 22, 0, 0, 0, 0, time.UTC)
	if rt.kind == opListInstances {
		sunset = time.Date(2027, time.January, 18, 0, 0, 0, 0, time.UTC)
	}

	h.Set("Deprecation", time.Date(2025, time.January, 22, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat))
	h.Set("Sunset", sunset.Format(http.TimeFormat))
}

// dispatch hands the request to the operation's handler.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, rt route) {
	switch rt.kind {
	case opListProjects:
		s.serveProjects(w, r)
	case opListInstances:
		s.serveInstances(w, r, rt)
	case opListSnapshots:
		s.serveSnapshots(w, r, rt)
	case opGetSnapshot:
		s.serveSnapshot(w, rt)
	}
}

// wait delays the request by d unless its context ends first; it reports
// whether the request should still be answered.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}

	t := time.NewTimer(d)
	defer t.Stop()

	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// Retire makes every endpoint of family answer 410 VERSION_GONE, as Atlas
// does once a version is past its sunset date.
func (s *Server) Retire(f atlas.Family) {
	s.mu.Lock()
	defer s.mu.Unlock()

	s.retired[f] = true
}

// EmptyServerlessList makes the Serverless instance listing return no
// instances while their snapshot endpoints keep answering, as Atlas has done
// since January 2026.
func (s *Server) EmptyServerlessList(empty bool) {
	s.mu.Lock()
	defer s.mu.Unlock()

	s.emptySLS = empty
}

func (s *Server) isRetired(f atlas.Family) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()

	return s.retired[f]
}

// statusWriter remembers the status written, for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}

	return w.ResponseWriter.Write(b)
}

// Flush passes flushes through so that truncated bodies reach the client.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter {
	return w.ResponseWriter
}
