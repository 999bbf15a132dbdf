package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/auth"
	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/httpapi"
	"github.com/eventide/realtime/internal/store/sqlite"
)

// BenchmarkPatchSlot measures the REST side of one availability change, as
// the end-to-end load makes it: a PATCH through the router, middleware, JWT
// check, JSON, and the SQLite write transaction that records the event
// (the relay, which sends it, is not running here), without the network.
func BenchmarkPatchSlot(b *testing.B) {
	db, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "eventide.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(b.Context()); err != nil {
		b.Fatal(err)
	}
	verifier, _ := auth.NewVerifier(secret)
	minter, _ := auth.NewMinter(secret)
	h := httpapi.NewServer(httpapi.Config{Env: "dev"}, httpapi.Deps{
		Slots: availability.NewService(db, nil), Verifier: verifier, Minter: minter, Ready: db.Ping,
	})
	tok, _, _ := minter.Mint(admin, time.Hour)
	serve := func(method, path, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := serve(http.MethodPost, slotsPath, `{"start":"2030-01-01T10:00:00Z","end":"2030-01-01T11:00:00Z"}`)
	if w.Code != http.StatusCreated {
		b.Fatalf("create: %d %s", w.Code, w.Body)
	}
	path := slotsPath + "/1"
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		w := serve(http.MethodPatch, path, fmt.Sprintf(`{"note":"%d"}`, i))
		if w.Code != http.StatusOK {
			b.Fatalf("patch: %d %s", w.Code, w.Body)
		}
	}
}
