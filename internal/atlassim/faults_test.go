package atlassim_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim/contract"
)

func TestRateLimit(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name        string
		omitHeaders bool
	}{
		{name: "with headers"},
		{name: "without headers", omitHeaders: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			c := newClock()
			sim := atlassim.New(atlassim.Config{
				NoAuth:    true,
				Now:       c.Now,
				RateLimit: &atlassim.RateLimit{Capacity: 2, RefillPerMinute: 30, OmitHeaders: tt.omitHeaders},
			})
			seed(sim, 1)
			sim.AddProject(projectB, "project-b")
			srv := start(t, sim)
			other := srv.URL + "/api/atlas/v2/groups/" + projectB + "/flexClusters"

			first := get(t, srv.Client(), flexSnaps(srv.URL), atlassim.MediaTypeFlex)
			require.Equal(t, http.StatusOK, first.status)
			require.Equal(t, http.StatusOK, get(t, srv.Client(), flexSnaps(srv.URL), atlassim.MediaTypeFlex).status)

			limited := get(t, srv.Client(), flexSnaps(srv.URL), atlassim.MediaTypeFlex)
			requireAPIError(t, limited, http.StatusTooManyRequests, atlassim.CodeRateLimited)
			require.Equal(t, "2", limited.header.Get("Retry-After"))
			require.Equal(t, http.StatusOK, get(t, srv.Client(), other, atlassim.MediaTypeFlex).status, "buckets are per project")

			if tt.omitHeaders {
				require.Empty(t, first.header.Get("RateLimit-Limit"))
				require.Empty(t, limited.header.Get("RateLimit-Remaining"))
			} else {
				require.Equal(t, "2", first.header.Get("RateLimit-Limit"))
				require.Equal(t, "1", first.header.Get("RateLimit-Remaining"))
				require.Equal(t, "0", limited.header.Get("RateLimit-Remaining"))
			}

			c.Add(2 * time.Second)
			require.Equal(t, http.StatusOK, get(t, srv.Client(), flexSnaps(srv.URL), atlassim.MediaTypeFlex).status)
		})
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		fault  atlassim.Fault
		status int
		code   string
		header string
		body   string
		html   bool // not an Atlas answer: only the request is checked
	}{
		{name: "server error", fault: atlassim.Fault{Status: 503}, status: 503, code: atlassim.CodeServiceUnavailable},
		{name: "rate limit without headers", fault: atlassim.Fault{Status: 429}, status: 429, code: atlassim.CodeRateLimited},
		{
			name:   "own body and header",
			fault:  atlassim.Fault{Status: 502, Header: http.Header{"Content-Type": {"text/html"}, "Retry-After": {"7"}}, Body: []byte("<html>bad gateway</html>")},
			status: 502, header: "7", body: "<html>bad gateway</html>", html: true,
		},
		{name: "header only", fault: atlassim.Fault{Header: http.Header{"Retry-After": {"3"}}}, status: 200, header: "3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			sim := openSim(newClock())
			seed(sim, 2)
			sim.Intercept(func(_ *http.Request, n int) *atlassim.Fault {
				if n == 2 {
					return &tt.fault
				}
				return nil
			})

			var opts []contract.Option
			if tt.html {
				opts = append(opts, contract.RequestsOnly())
			}
			srv := start(t, sim, opts...)

			require.Equal(t, http.StatusOK, get(t, srv.Client(), flexSnaps(srv.URL), atlassim.MediaTypeFlex).status)

			a := get(t, srv.Client(), flexSnaps(srv.URL), atlassim.MediaTypeFlex)
			switch {
			case tt.code != "":
				requireAPIError(t, a, tt.status, tt.code)
			default:
				require.Equal(t, tt.status, a.status)
			}

			require.Equal(t, tt.header, a.header.Get("Retry-After"))
			if tt.body != "" {
				require.Equal(t, tt.body, string(a.body))
			}

			require.Equal(t, http.StatusOK, get(t, srv.Client(), flexSnaps(srv.URL), atlassim.MediaTypeFlex).status)
			require.Equal(t, tt.status, sim.Requests()[1].Status)
		})
	}
}

func TestTruncate(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name  string
		fault atlassim.Fault
	}{
		{name: "normal page cut short", fault: atlassim.Fault{Truncate: true}},
		{name: "error body cut short", fault: atlassim.Fault{Status: 500, Truncate: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			sim := openSim(newClock())
			seed(sim, 20)
			sim.Intercept(func(*http.Request, int) *atlassim.Fault { return &tt.fault })
			srv := start(t, sim)

			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, flexSnaps(srv.URL), nil)
			require.NoError(t, err)
			req.Header.Set("Accept", atlassim.MediaTypeFlex)

			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()

			body, err := io.ReadAll(resp.Body)
			require.ErrorIs(t, err, io.ErrUnexpectedEOF)
			require.Less(t, int64(len(body)), resp.ContentLength)
			require.Positive(t, len(body))
		})
	}
}

func TestDelay(t *testing.T) {
	t.Parallel()

	sim := atlassim.New(atlassim.Config{NoAuth: true})
	seed(sim, 1)
	sim.Intercept(func(*http.Request, int) *atlassim.Fault { return &atlassim.Fault{Delay: time.Hour} })
	srv := start(t, sim)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, flexSnaps(srv.URL), nil)
	require.NoError(t, err)
	req.Header.Set("Accept", atlassim.MediaTypeFlex)

	_, err = srv.Client().Do(req)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "got %v", err)
}

func TestLatency(t *testing.T) {
	t.Parallel()

	sim := atlassim.New(atlassim.Config{NoAuth: true, Latency: 20 * time.Millisecond})
	seed(sim, 1)
	srv := start(t, sim)

	began := time.Now()
	require.Equal(t, http.StatusOK, get(t, srv.Client(), flexSnaps(srv.URL), atlassim.MediaTypeFlex).status)
	require.GreaterOrEqual(t, time.Since(began), 20*time.Millisecond)
}

func TestInterceptToken(t *testing.T) {
	t.Parallel()

	sim := authSim(newClock(), false)
	sim.InterceptToken(func(_ *http.Request, n int) *atlassim.Fault {
		if n == 1 {
			return &atlassim.Fault{Status: 503}
		}
		return nil
	})
	srv := start(t, sim)

	_, err := tokenConfig(srv.URL, clientSecret).Token(t.Context())
	require.Error(t, err)

	tok, err := tokenConfig(srv.URL, clientSecret).Token(t.Context())
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(tok.AccessToken, "simtok_"))
	require.Equal(t, 2, sim.TokenRequests())
}

func TestInterceptCountsAuthenticatedRequests(t *testing.T) {
	t.Parallel()

	sim := authSim(newClock(), false)
	var seen []int
	sim.Intercept(func(_ *http.Request, n int) *atlassim.Fault {
		seen = append(seen, n)
		return nil
	})
	srv := start(t, sim)
	c := digestClient(publicKey, privateKey, srv.Client().Transport)

	for range 3 {
		require.Equal(t, http.StatusOK, get(t, c, flexSnaps(srv.URL), atlassim.MediaTypeFlex).status)
	}

	require.Equal(t, []int{1, 2, 3}, seen, "challenges are not counted")
	require.Len(t, sim.Requests(), 6)
}
