package httpapi_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
)

// The contract test: every request/response pair the HTTP tests make goes
// through checkContract, which validates it against api/openapi.yaml. The
// spec and the code cannot drift apart without a test failing.

var (
	contractOnce sync.Once
	contractV    validator.Validator
	contractErr  string
)

func contract(t *testing.T) validator.Validator {
	t.Helper()
	contractOnce.Do(func() {
		spec, err := os.ReadFile("../../api/openapi.yaml")
		if err != nil {
			contractErr = err.Error()
			return
		}
		doc, err := libopenapi.NewDocument(spec)
		if err != nil {
			contractErr = err.Error()
			return
		}
		v, errs := validator.NewValidator(doc)
		if len(errs) > 0 {
			contractErr = errs[0].Error()
			return
		}
		if ok, verrs := v.ValidateDocument(); !ok {
			var b strings.Builder
			for _, e := range verrs {
				b.WriteString(e.Error() + "; ")
			}
			contractErr = "api/openapi.yaml is not a valid OpenAPI document: " + b.String()
			return
		}
		contractV = v
	})
	if contractErr != "" {
		t.Fatalf("contract: %s", contractErr)
	}
	return contractV
}

// checkContract validates one exchange. The request is checked only when the
// server accepted it as well-formed (not 400/401/413, nor 429, which is
// answered before the body is read): tests deliberately send malformed
// requests, and the response to those must still conform.
func checkContract(t *testing.T, req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) {
	t.Helper()
	v := contract(t)
	mkReq := func() *http.Request {
		r := req.Clone(req.Context())
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
		r.ContentLength = int64(len(reqBody))
		return r
	}
	mkResp := func() *http.Response {
		r := *resp
		r.Body = io.NopCloser(bytes.NewReader(respBody))
		return &r
	}
	switch resp.StatusCode {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
	default:
		if ok, errs := v.ValidateHttpRequest(mkReq()); !ok {
			for _, e := range errs {
				t.Errorf("contract: request %s %s: %s (%s)", req.Method, req.URL.Path, e.Message, e.Reason)
			}
		}
	}
	if ok, errs := v.ValidateHttpResponse(mkReq(), mkResp()); !ok {
		for _, e := range errs {
			t.Errorf("contract: response %d to %s %s: %s (%s)", resp.StatusCode, req.Method, req.URL.Path, e.Message, e.Reason)
		}
	}
}

// TestContractCatchesDrift proves checkContract can fail: exchanges that
// differ from the spec must be reported.
func TestContractCatchesDrift(t *testing.T) {
	v := contract(t)
	resp := func(status int, ct, body string) *http.Response {
		return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {ct}}, Body: io.NopCloser(strings.NewReader(body))}
	}
	get := func(path string) *http.Request {
		r, _ := http.NewRequest("GET", "http://localhost:8080"+path, nil)
		r.Header.Set("Authorization", "Bearer x")
		return r
	}
	slot := `{"id":1,"providerId":"42","start":"2026-01-01T00:00:00Z","end":"2026-01-01T01:00:00Z","status":"available","note":"","version":1,"createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z"`
	if ok, errs := v.ValidateHttpResponse(get("/api/v1/providers/42/slots/1"), resp(200, "application/json", slot+`}`)); !ok {
		t.Fatalf("a correct slot was rejected: %v", errs[0].Message)
	}
	for name, c := range map[string]struct {
		req  *http.Request
		resp *http.Response
	}{
		"extra slot field":      {get("/api/v1/providers/42/slots/1"), resp(200, "application/json", slot+`,"colour":"red"}`)},
		"bad status enum":       {get("/api/v1/providers/42/slots/1"), resp(200, "application/json", strings.Replace(slot, "available", "free", 1)+`}`)},
		"undocumented status":   {get("/api/v1/providers/42/slots/1"), resp(418, "application/problem+json", `{"type":"about:blank","title":"x","status":418}`)},
		"problem without title": {get("/api/v1/providers/42/slots/1"), resp(404, "application/problem+json", `{"type":"about:blank","status":404}`)},
		"health body wrong":     {get("/healthz"), resp(200, "application/json", `{"status":"meh"}`)},
		"slot list without seq": {get("/api/v1/providers/42/slots"), resp(200, "application/json", `{"providerId":"42","slots":[]}`)},
		"event without seq": {get("/api/v1/providers/42/events?after=0"), resp(200, "application/json",
			`{"providerId":"42","seq":1,"events":[{"action":"created","providerId":"42","slot":`+slot+`},"at":"2026-01-01T00:00:00Z"}]}`)},
	} {
		if ok, _ := v.ValidateHttpResponse(c.req, c.resp); ok {
			t.Errorf("%s: the contract check accepted it", name)
		}
	}
	post, _ := http.NewRequest("POST", "http://localhost:8080/api/v1/providers/42/slots",
		strings.NewReader(`{"start":"2026-01-01T00:00:00Z","end":"2026-01-01T01:00:00Z","colour":"red"}`))
	post.Header.Set("Content-Type", "application/json")
	post.Header.Set("Authorization", "Bearer x")
	if ok, _ := v.ValidateHttpRequest(post); ok {
		t.Error("a request with an unknown field passed the contract check")
	}
}
