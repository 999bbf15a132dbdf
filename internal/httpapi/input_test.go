package httpapi_test

import (
	"net/http"
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
