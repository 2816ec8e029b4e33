// Package fetch is the exporter's client for the Atlas Administration API
// v2: it authenticates (service account or API key), paces requests per
// project, retries what is worth retrying, pages through listings and turns
// Atlas JSON into the plain values of internal/atlas.
//
// It knows HTTP and JSON and nothing of the database; callers get values,
// typed errors (*APIError) and request counts (ListStats).
package fetch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Defaults for the zero values of Config.
const (
	DefaultBaseURL        = "https://cloud.mongodb.com"
	DefaultPageSize       = 500
	DefaultRequestTimeout = 30 * time.Second
	DefaultRateLimit      = 400
	DefaultRateBurst      = 5
	DefaultRetryBaseDelay = time.Second
	DefaultRetryMaxDelay  = 30 * time.Second
	DefaultMaxBodyBytes   = 32 << 20
	DefaultUserAgent      = "atlas-snapshot-exporter"
)

// MaxPageSize is the largest itemsPerPage Atlas accepts.
const MaxPageSize = 500

// Config holds a Client's long-lived settings. Zero values take the
// defaults above, except MaxRetries, where 0 means no retries.
type Config struct {
	// BaseURL is the Atlas endpoint, https://cloud.mongodb.com in production.
	BaseURL string

	// ClientID and ClientSecret are a service account (OAuth 2.0 client
	// credentials), preferred when set.
	ClientID     string
	ClientSecret string

	// PublicKey and PrivateKey are a programmatic API key (HTTP Digest).
	PublicKey  string
	PrivateKey string

	// PageSize is itemsPerPage, 1 to 500.
	PageSize int

	// RequestTimeout bounds each HTTP attempt, body included.
	RequestTimeout time.Duration

	// MaxRetries is how many times one request is retried after a 429, a
	// 5xx or a network error.
	MaxRetries int

	// RateLimit is requests per minute per project; RateBurst how many may
	// go at once after a pause.
	RateLimit int
	RateBurst int

	// RetryBaseDelay and RetryMaxDelay shape the exponential backoff: the
	// ceiling starts at the base and doubles up to the max, and each wait
	// is a random share of it (but never shorter than Retry-After).
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration

	// MaxBodyBytes caps one response body.
	MaxBodyBytes int64

	// Logger receives retry warnings, deprecation warnings and page debug
	// lines; nil discards them.
	Logger *slog.Logger

	// UserAgent names the exporter in every request.
	UserAgent string

	// Transport is the base round tripper under the auth layer; nil means a
	// clone of http.DefaultTransport. Tests use it to reach fakes.
	Transport http.RoundTripper

	// OnResponse, OnRetry and OnRateLimitWait, when set, hear about every
	// API answer (status 0 when none came), every retry and every wait for
	// the rate limiter: the feed of the exporter's metrics. family is
	// "flex" or "serverless". They are called from many goroutines and
	// must return quickly.
	OnResponse      func(family string, status int)
	OnRetry         func(family string)
	OnRateLimitWait func(d time.Duration)
}

// String renders the config with its secrets masked, so printing it is
// safe.
func (c Config) String() string {
	return fmt.Sprintf("fetch.Config{BaseURL:%s ClientID:%s ClientSecret:%s PublicKey:%s PrivateKey:%s PageSize:%d}",
		c.BaseURL, c.ClientID, mask(c.ClientSecret), c.PublicKey, mask(c.PrivateKey), c.PageSize)
}

// GoString masks secrets for %#v as String does for %v.
func (c Config) GoString() string {
	return c.String()
}

// LogValue masks secrets when the config is logged with slog.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", c.BaseURL),
		slog.String("client_id", c.ClientID),
		slog.String("client_secret", mask(c.ClientSecret)),
		slog.String("public_key", c.PublicKey),
		slog.String("private_key", mask(c.PrivateKey)),
		slog.Int("page_size", c.PageSize),
	)
}

// mask hides a secret, saying only whether it is set.
func mask(s string) string {
	if s == "" {
		return ""
	}

	return "***"
}

// Client talks to one Atlas endpoint with one set of credentials. It is
// safe for concurrent use; its token, rate limiters and deprecation notes
// are shared by every goroutine.
type Client struct {
	cfg    Config
	http   *http.Client
	limits *limiters
	log    *slog.Logger

	deprecationMu   sync.Mutex
	deprecationSeen map[string]bool

	// Hooks that tests replace.
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func() float64
	now    func() time.Time
}

// NewClient checks cfg, fills in defaults and builds the HTTP stack. It
// makes no request.
func NewClient(cfg Config) (*Client, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}

	base := cfg.Transport
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}

	base = userAgent(base, cfg.UserAgent)

	c := &Client{
		cfg: cfg,
		http: &http.Client{
			Transport:     authTransport(cfg, base, cfg.Logger),
			CheckRedirect: refuseCrossHost,
		},
		limits:          newLimiters(cfg.RateLimit, cfg.RateBurst),
		log:             cfg.Logger,
		deprecationSeen: make(map[string]bool),
		sleep:           sleepCtx,
		jitter:          jitter,
		now:             time.Now,
	}

	return c, nil
}

// withDefaults validates cfg and replaces zero values with defaults.
func withDefaults(cfg Config) (Config, error) {
	base, err := normaliseBaseURL(cfg.BaseURL)
	if err != nil {
		return cfg, err
	}

	cfg.BaseURL = base

	if err := checkCredentials(cfg); err != nil {
		return cfg, err
	}

	if err := checkPlainHTTP(cfg); err != nil {
		return cfg, err
	}

	if cfg.PageSize == 0 {
		cfg.PageSize = DefaultPageSize
	}

	if cfg.PageSize < 1 || cfg.PageSize > MaxPageSize {
		return cfg, fmt.Errorf("page size %d is outside 1..%d", cfg.PageSize, MaxPageSize)
	}

	if cfg.MaxRetries < 0 || cfg.RateLimit < 0 || cfg.RateBurst < 0 {
		return cfg, errors.New("max retries, rate limit and rate burst must not be negative")
	}

	cfg.RequestTimeout = orDefault(cfg.RequestTimeout, DefaultRequestTimeout)
	cfg.RetryBaseDelay = orDefault(cfg.RetryBaseDelay, DefaultRetryBaseDelay)
	cfg.RetryMaxDelay = max(orDefault(cfg.RetryMaxDelay, DefaultRetryMaxDelay), cfg.RetryBaseDelay)
	cfg.RateLimit = orDefault(cfg.RateLimit, DefaultRateLimit)
	cfg.RateBurst = orDefault(cfg.RateBurst, DefaultRateBurst)
	cfg.MaxBodyBytes = orDefault(cfg.MaxBodyBytes, DefaultMaxBodyBytes)
	cfg.UserAgent = orDefault(cfg.UserAgent, DefaultUserAgent)

	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}

	return cfg, nil
}

// orDefault returns v, or def when v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}

	return v
}

// normaliseBaseURL checks that s is an http(s) origin (optionally with a
// path prefix) and drops a trailing slash.
func normaliseBaseURL(s string) (string, error) {
	if s == "" {
		return DefaultBaseURL, nil
	}

	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("base url %q is not an http(s) url", s)
	}

	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("base url %q must not carry user info, a query or a fragment", u.Redacted())
	}

	return strings.TrimRight(u.String(), "/"), nil
}

// checkPlainHTTP refuses to send credentials over plain http to anything
// but a loopback address (the simulator in tests and the demo): a key or a
// token in clear text on a network is as good as published.
func checkPlainHTTP(cfg Config) error {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || u.Scheme != "http" || isLoopback(u.Hostname()) {
		return nil
	}

	if cfg.ClientID != "" || cfg.PublicKey != "" {
		return fmt.Errorf("base url %q: credentials go over plain http only to a loopback address; use https", u.Redacted())
	}

	return nil
}

// isLoopback reports whether host is localhost or a loopback IP address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}

	ip := net.ParseIP(host)

	return ip != nil && ip.IsLoopback()
}

// checkCredentials refuses half a credential pair, which is always a
// mistake; no pair at all is allowed (unauthenticated, for tests).
func checkCredentials(cfg Config) error {
	if (cfg.ClientID == "") != (cfg.ClientSecret == "") {
		return errors.New("service account needs both client id and client secret")
	}

	if (cfg.PublicKey == "") != (cfg.PrivateKey == "") {
		return errors.New("api key needs both public and private key")
	}

	return nil
}
