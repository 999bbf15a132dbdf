package httpapi_test

import (
	"net/http"
	"net/url"
	"testing"
)

// TestSlotIDsAreCanonical: a slot is addressed by one spelling of its id
// only; 00055 or +55 is a 400 naming slotId, never slot 55.
func TestSlotIDsAreCanonical(t *testing.T) {
	e := newEnv(t)
	ptok := e.token(provider)
	s := e.create("2030-01-01T09:00:00Z", "2030-01-01T10:00:00Z")
	if s["id"] != 1.0 {
		t.Fatalf("first slot has id %v", s["id"])
	}
	wantStatus(t, e.do(req{method: "GET", path: slotPath(1), token: ptok}), http.StatusOK)
	for _, id := range []string{"01", "00001", "+1", "%2B1", "1.0", "1e0", "0x1", "-1", "0", " 1", "99999999999999999999"} {
		for _, m := range []string{"GET", "PATCH", "DELETE"} {
			var body any
			if m == "PATCH" {
				body = map[string]any{"note": "aliased"}
			}
			wantProblem(t, e.do(req{method: m, path: slotsPath + "/" + id, token: ptok, body: body}), 400, "slotId")
		}
	}
	for _, v := range []string{`"01"`, `+1`, `"0"`} {
		wantProblem(t, e.do(req{method: "PATCH", path: slotPath(1), token: ptok, body: map[string]any{"note": "x"},
			header: map[string]string{"If-Match": v}}), 400, "If-Match")
	}
	r := e.do(req{method: "GET", path: slotPath(1), token: ptok})
	if got := r.json(t); got["version"] != 1.0 || got["note"] != "" {
		t.Fatalf("slot changed through an aliased id: %s", r.body)
	}
}

// TestFieldNamesAreExact: JSON field names match exactly once; encoding/json
// alone would take "START" for "start" and keep the last of two "start"s.
func TestFieldNamesAreExact(t *testing.T) {
	e := newEnv(t)
	ptok := e.token(provider)
	for _, tc := range []struct {
		body  string
		field string
	}{
		{`{"START":"2030-01-01T09:00:00Z","End":"2030-01-01T10:00:00Z","Status":"booked"}`, "START"},
		{`{"start":"2030-01-01T09:00:00Z","end":"2030-01-01T10:00:00Z","Status":"booked"}`, "Status"},
		{`{"start":"2030-01-01T09:00:00Z","end":"2030-01-01T10:00:00Z","noTe":"x"}`, "noTe"},
		{`{"start":"2030-01-01T09:00:00Z","start":"2030-01-01T08:00:00Z","end":"2030-01-01T10:00:00Z"}`, "start"},
		{`{"start":"2030-01-01T09:00:00Z","end":"2030-01-01T10:00:00Z","note":"a","note":"b"}`, "note"},
		{`{"start":"2030-01-01T09:00:00Z","end":"2030-01-01T10:00:00Z","st\u0061tus":"booked","status":"blocked"}`, "status"},
	} {
		r := e.do(req{method: "POST", path: slotsPath, token: ptok, body: tc.body})
		wantProblem(t, r, 400, tc.field)
	}
	if n := e.count(); n != 0 {
		t.Fatalf("%d slots stored", n)
	}
	s := e.create("2030-01-01T09:00:00Z", "2030-01-01T10:00:00Z")
	wantProblem(t, e.do(req{method: "PATCH", path: slotPath(s["id"]), token: ptok, body: `{"Note":"x"}`}), 400, "Note")
	for _, body := range []string{`null`, `"x"`, `[]`, `1`} {
		wantProblem(t, e.do(req{method: "PATCH", path: slotPath(s["id"]), token: ptok, body: body}), 400, "body")
	}
	wantProblem(t, e.do(req{method: "POST", path: "/api/v1/dev/token", body: `{"Role":"client"}`}), 400, "Role")
	wantProblem(t, e.do(req{method: "POST", path: "/api/v1/dev/emit", token: e.token(admin), body: `{"EVENT":"x"}`}), 400, "EVENT")
	if n := e.seq(); n != 1 {
		t.Fatalf("%d changes recorded, want 1 (the create)", n)
	}
}

// TestTextIsValidUnicode: a body that is not UTF-8, or escapes half a
// surrogate pair, is refused rather than stored with U+FFFD in its place.
func TestTextIsValidUnicode(t *testing.T) {
	e := newEnv(t)
	ptok := e.token(provider)
	prefix := `{"start":"2030-01-01T09:00:00Z","end":"2030-01-01T10:00:00Z","note":"`
	for _, note := range []string{"caf\xe9", "\xff", "\xed\xa0\x80", `\ud800`, `\udc00x`, `\ud800\u0041`, `a\ud83d`} {
		wantProblem(t, e.do(req{method: "POST", path: slotsPath, token: ptok, body: []byte(prefix + note + `"}`)}), 400, "body")
	}
	wantProblem(t, e.do(req{method: "POST", path: "/api/v1/dev/attendance/broadcast", token: e.token(admin), body: []byte(`{"m":"\xff"}`)}), 400, "body")
	if n := e.count(); n != 0 || len(e.emit.all()) != 0 {
		t.Fatalf("%d slots stored, %d broadcasts", n, len(e.emit.all()))
	}
	// A proper pair, an escaped backslash before "ud800", and U+FFFD typed
	// by the user are text like any other.
	r := e.do(req{method: "POST", path: slotsPath, token: ptok, body: []byte(prefix + `\ud83d\ude00 \\ud800 \ufffd"}`)})
	wantStatus(t, r, 201)
	if got := r.json(t)["note"]; got != "😀 \\ud800 \uFFFD" {
		t.Fatalf("note %q", got)
	}
}

// TestNoteCharacters: notes refuse control characters (but TAB and LF) and
// the bidirectional controls that make text display other than it reads.
func TestNoteCharacters(t *testing.T) {
	e := newEnv(t)
	ptok := e.token(provider)
	s := e.create("2030-01-01T09:00:00Z", "2030-01-01T10:00:00Z")
	for _, note := range []string{"a\x00b", "\r", "\x1b[31mred", "\x7f", "\u0085", "abc\u202edcba", "\u202a", "\u2066x\u2069", "\u2068"} {
		body := map[string]any{"start": "2030-01-02T09:00:00Z", "end": "2030-01-02T10:00:00Z", "note": note}
		wantProblem(t, e.do(req{method: "POST", path: slotsPath, token: ptok, body: body}), 400, "note")
		wantProblem(t, e.do(req{method: "PATCH", path: slotPath(s["id"]), token: ptok, body: map[string]any{"note": note}}), 400, "note")
	}
	if n := e.count(); n != 1 {
		t.Fatalf("%d slots", n)
	}
	for _, note := range []string{"line one\nline two\tend", "שלום עולם", "\u200fmark", "😀"} {
		r := e.do(req{method: "PATCH", path: slotPath(s["id"]), token: ptok, body: map[string]any{"note": note}})
		wantStatus(t, r, 200)
		if r.json(t)["note"] != note {
			t.Fatalf("note %q stored as %s", note, r.body)
		}
	}
}

// TestTimeOffsets: an offset is Z or from -23:59 to +23:59; a fraction of
// a second follows '.'.
func TestTimeOffsets(t *testing.T) {
	e := newEnv(t)
	ptok := e.token(provider)
	for _, start := range []string{"2030-01-01T09:00:00+24:00", "2030-01-01T09:00:00-24:00", "2030-01-01T09:00:00+00:60", "2030-01-01T09:00:00,5Z", "2030-01-01T09:00:00.5+99:00"} {
		wantProblem(t, e.do(req{method: "POST", path: slotsPath, token: ptok, body: slotBody(start, "2030-01-03T00:00:00Z")}), 400, "start")
		wantProblem(t, e.do(req{method: "GET", path: slotsPath + "?from=" + url.QueryEscape(start), token: ptok}), 400, "from")
	}
	if n := e.count(); n != 0 {
		t.Fatalf("%d slots", n)
	}
	r := e.do(req{method: "POST", path: slotsPath, token: ptok, body: slotBody("2030-01-01T09:00:00.250+23:59", "2030-01-01T10:00:00-00:00")})
	wantStatus(t, r, 201)
	if got := r.json(t); got["start"] != "2029-12-31T09:01:00.25Z" || got["end"] != "2030-01-01T10:00:00Z" {
		t.Fatalf("times %s", r.body)
	}
}

// TestPatchThatChangesNothing: PATCH {} and a PATCH with the values the slot
// already has answer the slot as it is: no new version, no seq, no event.
func TestPatchThatChangesNothing(t *testing.T) {
	e := newEnv(t)
	ptok := e.token(provider)
	s := e.do(req{method: "POST", path: slotsPath, token: ptok, body: map[string]any{
		"start": "2030-01-01T09:00:00Z", "end": "2030-01-01T10:00:00Z", "status": "booked", "note": "n"}})
	wantStatus(t, s, 201)
	path := slotPath(s.json(t)["id"])
	for _, body := range []any{
		`{}`,
		map[string]any{"status": "booked"},
		map[string]any{"note": "n", "status": "booked"},
		map[string]any{"start": "2030-01-01T10:00:00+01:00", "end": "2030-01-01T10:00:00.000Z"},
	} {
		r := e.do(req{method: "PATCH", path: path, token: ptok, body: body})
		wantStatus(t, r, 200)
		if r.json(t)["version"] != 1.0 || r.header.Get("ETag") != `"1"` {
			t.Fatalf("PATCH %v: %s %v", body, r.body, r.header)
		}
	}
	wantStatus(t, e.do(req{method: "PATCH", path: path, token: ptok, body: `{}`, header: map[string]string{"If-Match": `"1"`}}), 200)
	wantProblem(t, e.do(req{method: "PATCH", path: path, token: ptok, body: `{}`, header: map[string]string{"If-Match": `"2"`}}), 412, "")
	wantProblem(t, e.do(req{method: "PATCH", path: slotPath(99), token: ptok, body: `{}`}), 404, "")
	if n := e.seq(); n != 1 {
		t.Fatalf("%d changes recorded after no-op PATCHes, want 1 (the create)", n)
	}
	// The next real change is version 2 with seq 2: nothing was spent.
	r := e.do(req{method: "PATCH", path: path, token: ptok, body: map[string]any{"status": "available"}})
	wantStatus(t, r, 200)
	if r.json(t)["version"] != 2.0 || e.seq() != 2 {
		t.Fatalf("after a real change: %s, seq %d", r.body, e.seq())
	}
}

// seq is provider 42's seq: how many changes its event log recorded.
func (e *env) seq() int64 {
	e.t.Helper()
	n, err := e.db.Seq(e.t.Context(), "42")
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}
