package atlassim

import (
	"bytes"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Fault replaces or disturbs the simulator's answer to one request.
type Fault struct {
	// Status, when non-zero, replaces the answer. Zero keeps the normal
	// answer (after Delay, or cut short by Truncate).
	Status int

	// Header is added to the answer.
	Header http.Header

	// Body replaces the answer's body. When nil and Status is set, the body
	// is an Atlas error body with a plausible errorCode for Status.
	Body []byte

	// Truncate sends the Content-Length of the full body but only its first
	// half, then drops the connection. It needs a real connection (an
	// httptest.Server), not a ResponseRecorder.
	Truncate bool

	// Delay holds the answer back, or until the request's context ends.
	Delay time.Duration
}

// interceptor is an installed fault function with its own request count.
type interceptor struct {
	fn func(r *http.Request, n int) *Fault
	n  atomic.Int64
}

// Intercept installs fn, called for every authenticated API request with n,
// the 1-based count of API requests since fn was installed. A non-nil Fault
// disturbs that request's answer. Token requests are not counted; see
// InterceptToken. A nil fn removes the interceptor.
func (s *Server) Intercept(fn func(r *http.Request, n int) *Fault) {
	s.intercept.Store(newInterceptor(fn))
}

// InterceptToken is Intercept for the OAuth token endpoint.
func (s *Server) InterceptToken(fn func(r *http.Request, n int) *Fault) {
	s.interceptToken.Store(newInterceptor(fn))
}

func newInterceptor(fn func(r *http.Request, n int) *Fault) *interceptor {
	if fn == nil {
		return nil
	}

	return &interceptor{fn: fn}
}

// OnPage installs fn, called before each snapshot listing page is built, so a
// test can change the listing between page 1 and page 2. fn may call any
// Server method. A nil fn removes the hook.
func (s *Server) OnPage(fn func(projectID, instance string, page int)) {
	if fn == nil {
		s.onPage.Store(nil)
		return
	}

	s.onPage.Store(&fn)
}

// MiscountListings installs fn, which tells by how much the totalCount of an
// instance's snapshot listing is off (negative: too few). Atlas documents
// the count as an estimate; the simulator also derives its next links from
// the reported count, so a short count ends the links early. Zero, or a nil
// fn, reports the truth.
func (s *Server) MiscountListings(fn func(projectID, instance string) int) {
	if fn == nil {
		s.miscount.Store(nil)
		return
	}

	s.miscount.Store(&fn)
}

// countSkew is how far off the instance's listing count is to be.
func (s *Server) countSkew(projectID, instance string) int {
	if fn := s.miscount.Load(); fn != nil {
		return (*fn)(projectID, instance)
	}

	return 0
}

// applyFault asks the interceptor about r. It reports whether the fault
// answered the request; serve produces the normal answer when the fault
// only truncates it.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, slot *atomic.Pointer[interceptor], serve func(http.ResponseWriter)) bool {
	ic := slot.Load()
	if ic == nil {
		return false
	}

	f := ic.fn(r, int(ic.n.Add(1)))
	if f == nil {
		return false
	}

	if !s.wait(r, f.Delay) {
		return true
	}

	if f.Status == 0 && !f.Truncate {
		addHeader(w.Header(), f.Header)
		return false
	}

	status, header, body := s.faultAnswer(f, serve)
	addHeader(w.Header(), header)
	addHeader(w.Header(), f.Header)
	writeFault(w, status, body, f.Truncate)

	return true
}

// faultAnswer is the status, headers and body a fault sends.
func (s *Server) faultAnswer(f *Fault, serve func(http.ResponseWriter)) (int, http.Header, []byte) {
	if f.Status == 0 {
		rec := &bufferWriter{header: make(http.Header)}
		serve(rec)

		return rec.status, rec.header, rec.body.Bytes()
	}

	h := make(http.Header)
	body := f.Body
	if body == nil {
		h.Set("Content-Type", "application/json")
		body = ErrorBody(f.Status, defaultFaultCode(f.Status), "Injected fault.")
	}

	return f.Status, h, body
}

// writeFault sends body whole, or half of it before dropping the connection.
func writeFault(w http.ResponseWriter, status int, body []byte, truncate bool) {
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if !truncate {
		_, _ = w.Write(body)
		return
	}

	_, _ = w.Write(body[:len(body)/2])
	_ = http.NewResponseController(w).Flush()

	panic(http.ErrAbortHandler)
}

func addHeader(dst, src http.Header) {
	for k, vs := range src {
		dst.Del(k)
		for _, v := range vs {
			dst.Add(k, v)
		}
	}
}

// bufferWriter captures an answer so that a fault can cut it short.
type bufferWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferWriter) Header() http.Header { return b.header }

func (b *bufferWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}

	return b.body.Write(p)
}

// Request is one entry of the request log.
type Request struct {
	Method string
	Path   string
	Query  string // raw query string
	Status int    // 0 when the client went away before an answer
	Auth   AuthScheme
	Time   time.Time
}

// Requests returns a copy of the request log, oldest first.
func (s *Server) Requests() []Request {
	s.logMu.Lock()
	defer s.logMu.Unlock()

	return append([]Request(nil), s.log...)
}

// ResetLog empties the request log and the token request count.
func (s *Server) ResetLog() {
	s.logMu.Lock()
	defer s.logMu.Unlock()

	s.log = nil
	s.tokenReqs.Store(0)
}

func (s *Server) record(r Request) {
	if s.cfg.NoRequestLog {
		return
	}

	s.logMu.Lock()
	defer s.logMu.Unlock()

	s.log = append(s.log, r)
}
