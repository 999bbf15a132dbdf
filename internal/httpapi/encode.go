package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"

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
// into v. Every failure is an apperr error naming the field where there is
// one. Beyond encoding/json it refuses what that package lets through
// silently:
//   - invalid UTF-8 and unpaired surrogate escapes ("\ud800"), which it
//     would store as U+FFFD;
//   - for a struct v, a field name that is not exactly one of v's JSON
//     names ("START" for "start": it matches case-insensitively) and a
//     name given twice (it keeps the last).
func decode(w http.ResponseWriter, r *http.Request, maxBytes int64, v any) error {
	// The common exact value skips ParseMediaType (which allocates).
	if ct := r.Header.Get("Content-Type"); ct != "" && ct != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return apperr.Invalid("Content-Type", "must be application/json")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBytes))
	if err != nil {
		return readError(err, maxBytes)
	}
	if err := checkText(body); err != nil {
		return err
	}
	if names := jsonNames(v); names != nil {
		if err := checkNames(body, names); err != nil {
			return err
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, maxBytes)
	}
	// One value only: anything but whitespace after it is an error.
	if dec.More() || len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 {
		return apperr.Invalid("body", "unexpected data after the JSON object")
	}
	return nil
}

// readError is the error for a body that could not be read whole.
func readError(err error, maxBytes int64) error {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return apperr.Errorf(apperr.CodeTooLarge, "request body is larger than %d bytes", maxBytes)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errBodyTimeout
	}
	// The client went away mid-body (or sent a broken chunked encoding);
	// writeProblem answers it without an ERROR line when the request's
	// context is cancelled.
	return fmt.Errorf("httpapi: read request body: %w", err)
}

// checkText refuses a body that is not valid UTF-8, or that escapes half
// of a surrogate pair: encoding/json would turn either into U+FFFD.
func checkText(b []byte) error {
	if !utf8.Valid(b) {
		i := 0
		for i < len(b) {
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		return apperr.Invalid("body", fmt.Sprintf("is not valid UTF-8 (at byte %d)", i))
	}
	inString := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			inString = !inString
		case c == '\\' && inString && i+1 < len(b):
			if b[i+1] != 'u' {
				i++ // \" or \\: skip the escaped byte
				continue
			}
			u, ok := hex4(b, i+2)
			if !ok {
				continue // a syntax error; the decoder says so
			}
			switch {
			case u >= 0xd800 && u < 0xdc00: // high half: a low half must follow
				if lo, ok := hex4(b, i+8); !ok || b[i+6] != '\\' || b[i+7] != 'u' || lo < 0xdc00 || lo > 0xdfff {
					return apperr.Invalid("body", fmt.Sprintf("has an unpaired surrogate escape at byte %d", i))
				}
				i += 11
			case u >= 0xdc00 && u <= 0xdfff:
				return apperr.Invalid("body", fmt.Sprintf("has an unpaired surrogate escape at byte %d", i))
			default:
				i += 5
			}
		}
	}
	return nil
}

// hex4 reads the four hex digits at b[i:i+4].
func hex4(b []byte, i int) (rune, bool) {
	if i < 0 || i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// jsonNames returns the JSON field names of the struct v points to (nil
// when v is not a pointer to a struct), computed once per type.
func jsonNames(v any) map[string]bool {
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	t = t.Elem()
	if m, ok := namesByType.Load(t); ok {
		return m.(map[string]bool)
	}
	m := map[string]bool{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		m[name] = true
	}
	namesByType.Store(t, m)
	return m
}

var namesByType sync.Map // reflect.Type -> map[string]bool

// checkNames walks the members of the top-level object in body and refuses
// a name that is not exactly one of names, or that comes twice, and a body
// that is another JSON value (encoding/json reads null into a struct as
// nothing at all). A body that is not JSON is left to the decoder to
// report.
func checkNames(body []byte, names map[string]bool) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil {
		return nil
	} else if tok != json.Delim('{') {
		return apperr.Invalid("body", "must be a JSON object")
	}
	seen := make(map[string]bool, len(names))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		name, _ := tok.(string)
		if !names[name] {
			for known := range names {
				if strings.EqualFold(known, name) {
					return apperr.Invalid(name, fmt.Sprintf("unknown field (names are case-sensitive: %q)", known))
				}
			}
			return apperr.Invalid(name, "unknown field")
		}
		if seen[name] {
			return apperr.Invalid(name, "appears more than once")
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	return nil
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
