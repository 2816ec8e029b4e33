package atlassim

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Running is a simulator listening on a real socket, for the demo command
// and benchmarks; tests usually wrap the Server in httptest.NewServer.
type Running struct {
	// URL is the base URL to give the client, such as http://127.0.0.1:41234.
	URL string

	srv  *http.Server
	done chan error
}

// Start serves s on addr ("127.0.0.1:0" picks a free loopback port).
func (s *Server) Start(addr string) (*Running, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}

	r := &Running{
		URL:  "http://" + ln.Addr().String(),
		srv:  &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second},
		done: make(chan error, 1),
	}
	go func() { r.done <- r.srv.Serve(ln) }()

	return r, nil
}

// Close stops the listener and drops open connections.
func (r *Running) Close() error {
	if err := r.srv.Close(); err != nil {
		return fmt.Errorf("close simulator: %w", err)
	}

	if err := <-r.done; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve simulator: %w", err)
	}

	return nil
}
