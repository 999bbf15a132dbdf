package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/eventide/realtime/internal/apperr"
)

// encode writes v as JSON with status.
func encode(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// errEmptyBody is returned by decode for a body with no JSON value; callers
// for which a body is optional treat it as {}.
var errEmptyBody = apperr.Invalid("body", "a JSON object is required")

// decode reads exactly one JSON value of at most maxBytes from r's body
// into v, rejecting unknown fields and trailing data. Every failure is an
// apperr error naming the field where there is one.
func decode(w http.ResponseWriter, r *http.Request, maxBytes int64, v any) error {
	// The common exact value skips ParseMediaType (which allocates).
	if ct := r.Header.Get("Content-Type"); ct != "" && ct != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return apperr.Invalid("Content-Type", "must be application/json")
		}
	}
	body := http.MaxBytesReader(w, r.Body, maxBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, maxBytes)
	}
	// One value only: anything but whitespace after it is an error.
	var extra json.RawMessage
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
		return nil
	case err == nil:
		return apperr.Invalid("body", "unexpected data after the JSON object")
	default:
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return decodeError(err, maxBytes)
		}
		return apperr.Invalid("body", "unexpected data after the JSON object")
	}
}

func decodeError(err error, maxBytes int64) error {
	var (
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
		tooBig  *http.MaxBytesError
	)
	switch {
	case errors.As(err, &tooBig):
		return apperr.Errorf(apperr.CodeTooLarge, "request body is larger than %d bytes", maxBytes)
	case errors.Is(err, io.EOF):
		return errEmptyBody
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.Invalid("body", "malformed JSON: unexpected end of input")
	case errors.As(err, &syntax):
		return apperr.Invalid("body", fmt.Sprintf("malformed JSON at byte %d", syntax.Offset))
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return apperr.Invalid("body", "must be a JSON object")
		}
		return apperr.Invalid(field, "must be a JSON "+jsonKind(typeErr.Type.Kind().String()))
	}
	// encoding/json reports unknown fields only as text: json: unknown field "x".
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		field := strings.Trim(name, `"`)
		return apperr.Invalid(field, "unknown field")
	}
	return apperr.Invalid("body", "malformed JSON")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "number"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	}
	return "value of the right type"
}
