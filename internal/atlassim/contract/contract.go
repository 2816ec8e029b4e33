// Package contract checks HTTP traffic against the trimmed Atlas
// Administration API document in internal/atlassim/testdata/openapi.yaml.
//
// Wrap puts the check around a handler (usually the simulator): every
// request must match an operation of the document, with valid path and query
// parameters and an Accept header naming the operation's media type, and
// every response must match the document's status, content type and schema.
// Violations are reported with tb.Errorf. Tests import this package; the
// exporter does not.
//
// Two places where the document and Atlas disagree are settled the way
// Atlas behaves: ApiError.parameters is documented as an array of objects
// but Atlas sends strings and numbers, so its items accept any value; and
// error statuses an operation does not declare (406, 410, and 400 on some
// listings) are checked against ApiError with application/json, the media
// type Atlas uses for every error.
package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Atlas's versioned media types are JSON.
var versionedTypes = []string{
	"application/vnd.atlas.2023-01-01+json",
	"application/vnd.atlas.2024-11-13+json",
}

// Option changes what Wrap checks.
type Option func(*options)

type options struct {
	requests, responses bool
}

// RequestsOnly checks only requests: for tests that feed the client
// deliberately odd data (unknown fields, bad times, huge numbers).
func RequestsOnly() Option {
	return func(o *options) { o.responses = false }
}

// ResponsesOnly checks only responses: for tests that send deliberately
// wrong requests (no Accept header, itemsPerPage=0, a malformed group id).
func ResponsesOnly() Option {
	return func(o *options) { o.requests = false }
}

var (
	loadOnce  sync.Once
	loadedDoc *openapi3.T
	loadedRtr routers.Router
	errLoad   error
)

// SpecPath is the location of the OpenAPI document the check uses.
func SpecPath() string {
	_, file, _, _ := runtime.Caller(0)

	return filepath.Join(filepath.Dir(file), "..", "testdata", "openapi.yaml")
}

// Document loads (once) the OpenAPI document, relaxed as the package comment
// says, and a router over it.
func Document() (*openapi3.T, routers.Router, error) {
	loadOnce.Do(func() {
		loadedDoc, loadedRtr, errLoad = load(SpecPath())
	})

	return loadedDoc, loadedRtr, errLoad
}

func load(path string) (*openapi3.T, routers.Router, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read openapi document: %w", err)
	}

	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		return nil, nil, fmt.Errorf("load openapi document %s: %w", path, err)
	}

	if err := relax(doc); err != nil {
		return nil, nil, err
	}

	// The document names cloud.mongodb.com; the simulator runs anywhere.
	doc.Servers = nil
	for _, mt := range versionedTypes {
		openapi3filter.RegisterBodyDecoder(mt, openapi3filter.JSONBodyDecoder)
	}

	rtr, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, nil, fmt.Errorf("route openapi document: %w", err)
	}

	return doc, rtr, nil
}

// relax lets ApiError.parameters hold strings and numbers, as Atlas sends.
func relax(doc *openapi3.T) error {
	ref := doc.Components.Schemas["ApiError"]
	if ref == nil || ref.Value == nil || ref.Value.Properties["parameters"] == nil {
		return errors.New("openapi document: no ApiError.parameters schema")
	}

	params := ref.Value.Properties["parameters"].Value
	params.Items = openapi3.NewSchemaRef("", &openapi3.Schema{})

	return nil
}

// Wrap returns h with every request and response checked against the
// document. The OAuth endpoints, which the document does not describe, pass
// through unchecked.
func Wrap(tb testing.TB, h http.Handler, opts ...Option) http.Handler {
	tb.Helper()

	doc, rtr, err := Document()
	if err != nil {
		tb.Fatalf("contract: %v", err)
	}

	o := options{requests: true, responses: true}
	for _, opt := range opts {
		opt(&o)
	}

	c := &checker{tb: tb, doc: doc, rtr: rtr, opts: o}

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/oauth/") {
			h.ServeHTTP(w, r)
			return
		}

		c.serve(w, r, h)
	})
}

type checker struct {
	tb   testing.TB
	doc  *openapi3.T
	rtr  routers.Router
	opts options
}

// serve checks the request, serves it through a recording writer and checks
// the response.
func (c *checker) serve(w http.ResponseWriter, r *http.Request, h http.Handler) {
	route, params, err := c.rtr.FindRoute(r)
	if err != nil && c.opts.requests {
		c.tb.Errorf("contract: %s %s: no operation in the document: %v", r.Method, r.URL.Path, err)
	}

	input := &openapi3filter.RequestValidationInput{
		Request:    r,
		PathParams: params,
		Route:      route,
		Options:    &openapi3filter.Options{AuthenticationFunc: acceptAuth, SkipSettingDefaults: true, MultiError: true},
	}
	if route != nil && c.opts.requests {
		c.checkRequest(r, input)
	}

	rec := &recorder{ResponseWriter: w}
	h.ServeHTTP(rec, r)

	if c.opts.responses {
		c.checkResponse(r, input, rec)
	}
}

// acceptAuth lets both security schemes pass: authentication is the
// simulator's concern, not the contract's.
func acceptAuth(context.Context, *openapi3filter.AuthenticationInput) error {
	return nil
}

func (c *checker) checkRequest(r *http.Request, input *openapi3filter.RequestValidationInput) {
	if err := openapi3filter.ValidateRequest(r.Context(), input); err != nil {
		c.tb.Errorf("contract: request %s %s: %v", r.Method, r.URL.RequestURI(), err)
	}

	want := okMediaTypes(input.Route.Operation)
	if !acceptsAny(r.Header.Values("Accept"), want) {
		c.tb.Errorf("contract: request %s %s: Accept %q names none of %v",
			r.Method, r.URL.Path, r.Header.Values("Accept"), want)
	}
}

// okMediaTypes lists the media types of the operation's 200 response.
func okMediaTypes(op *openapi3.Operation) []string {
	ok := op.Responses.Status(http.StatusOK)
	if ok == nil || ok.Value == nil {
		return nil
	}

	var out []string
	for mt := range ok.Value.Content {
		out = append(out, mt)
	}

	return out
}

func acceptsAny(values, want []string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			mt, _, _ := strings.Cut(part, ";")
			for _, w := range want {
				if strings.EqualFold(strings.TrimSpace(mt), w) {
					return true
				}
			}
		}
	}

	return false
}

// checkResponse validates a recorded response. Responses to requests the
// document has no operation for must still be Atlas error bodies.
func (c *checker) checkResponse(r *http.Request, input *openapi3filter.RequestValidationInput, rec *recorder) {
	status := rec.status
	if status == 0 {
		return // the client went away before any answer
	}

	if input.Route != nil && input.Route.Operation.Responses.Status(status) != nil {
		c.checkDeclared(r, input, rec, status)
		return
	}

	if status >= http.StatusBadRequest {
		c.checkErrorBody(r, rec, status)
		return
	}

	c.tb.Errorf("contract: response %s %s: status %d is not in the document", r.Method, r.URL.Path, status)
}

func (c *checker) checkDeclared(r *http.Request, input *openapi3filter.RequestValidationInput, rec *recorder, status int) {
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: input,
		Status:                 status,
		Header:                 rec.Header(),
		Options:                &openapi3filter.Options{MultiError: true},
	}
	out.SetBodyBytes(rec.body.Bytes())

	if err := openapi3filter.ValidateResponse(r.Context(), out); err != nil {
		c.tb.Errorf("contract: response %d to %s %s: %v", status, r.Method, r.URL.RequestURI(), err)
	}
}

// checkErrorBody holds an error status the operation does not declare to
// the ApiError schema in application/json.
func (c *checker) checkErrorBody(r *http.Request, rec *recorder, status int) {
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		c.tb.Errorf("contract: response %d to %s %s: content type %q, want application/json", status, r.Method, r.URL.Path, ct)
		return
	}

	var v any
	if err := json.Unmarshal(rec.body.Bytes(), &v); err != nil {
		c.tb.Errorf("contract: response %d to %s %s: body is not JSON: %v", status, r.Method, r.URL.Path, err)
		return
	}

	schema := c.doc.Components.Schemas["ApiError"].Value
	if err := schema.VisitJSON(v, openapi3.VisitAsResponse(), openapi3.MultiErrors()); err != nil {
		c.tb.Errorf("contract: response %d to %s %s: body is not an ApiError: %v", status, r.Method, r.URL.Path, err)
	}

	obj, _ := v.(map[string]any)
	if code, ok := obj["error"].(float64); ok && int(code) != status {
		c.tb.Errorf("contract: response %d to %s %s: body says error %v", status, r.Method, r.URL.Path, code)
	}
}

// recorder passes a response through while keeping a copy of it.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body.Write(p)

	return r.ResponseWriter.Write(p)
}

// Flush passes flushes through.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter {
	return r.ResponseWriter
}
