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
// server accepted it as well-formed (not 400/401/413): tests deliberately
// send malformed requests, and the response to those must still conform.
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
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge:
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
