package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/auth"
	"github.com/eventide/realtime/internal/store/postgres/pgtest"
)

func TestMigratePostgres(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	u, _ := url.Parse(dbURL)
	u.User = url.UserPassword(u.User.Username(), "hunter2-not-shown")
	var out, errOut bytes.Buffer
	// The server trusts loopback, so the password is not checked; it must
	// not be printed either.
	for range 2 {
		out.Reset()
		if err := run(context.Background(), []string{"migrate", "--database-url", u.String()}, env(nil), &out, &errOut); err != nil {
			t.Fatalf("migrate: %v\n%s", err, errOut.String())
		}
	}
	if !strings.Contains(out.String(), "schema up to date: postgres://") || strings.Contains(out.String()+errOut.String(), "hunter2") {
		t.Fatalf("migrate printed %q / %q", out.String(), errOut.String())
	}
}

// Two servers on one PostgreSQL database (EVENTIDE_DATABASE_URL selects it)
// see each other's writes, and the provider's seq runs on across them.
func TestServePostgres(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	withPassword, _ := url.Parse(dbURL)
	withPassword.User = url.UserPassword(withPassword.User.Username(), "hunter2-not-shown")
	a, _, stderrA, stopA := startServe(t, "--database-url", withPassword.String(), "--jwt-secret", testSecret, "--db-max-conns", "3")
	b, _, _, stopB := startServe(t, "--database-url", dbURL, "--jwt-secret", testSecret)
	m, err := auth.NewMinter([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := m.Mint(auth.Claims{Subject: "p", Role: auth.RoleProvider, ProviderID: "42"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, url, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return resp.StatusCode, m
	}
	if code, _ := call("GET", a+"/readyz", ""); code != http.StatusOK {
		t.Fatalf("readyz = %d", code)
	}
	code, created := call("POST", a+"/api/v1/providers/42/slots", `{"start":"2030-01-01T09:00:00Z","end":"2030-01-01T10:00:00Z"}`)
	if code != http.StatusCreated {
		t.Fatalf("POST on a = %d %v", code, created)
	}
	// The same time through the other server is an overlap.
	if code, p := call("POST", b+"/api/v1/providers/42/slots", `{"start":"2030-01-01T09:30:00Z","end":"2030-01-01T10:30:00Z"}`); code != http.StatusConflict {
		t.Fatalf("overlapping POST on b = %d %v, want 409", code, p)
	}
	id := int64(created["id"].(float64))
	if code, p := call("PATCH", b+"/api/v1/providers/42/slots/"+itoa(id), `{"note":"via b"}`); code != http.StatusOK || p["version"] != 2.0 {
		t.Fatalf("PATCH on b = %d %v", code, p)
	}
	if code, p := call("GET", a+"/api/v1/providers/42/slots/"+itoa(id), ""); code != http.StatusOK || p["note"] != "via b" {
		t.Fatalf("GET on a = %d %v", code, p)
	}
	if strings.Contains(stderrA.String(), "hunter2") {
		t.Fatal("password logged")
	}
	for _, stop := range []func() error{stopA, stopB} {
		if err := stop(); err != nil {
			t.Fatalf("serve returned %v", err)
		}
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestServeRefusesAnEmptyPool(t *testing.T) {
	var errOut bytes.Buffer
	err := run(context.Background(), []string{"serve", "--data-dir", t.TempDir(), "--db-max-conns", "0"}, env(nil), &bytes.Buffer{}, &errOut)
	if err == nil || !strings.Contains(err.Error(), "--db-max-conns") {
		t.Fatalf("serve --db-max-conns 0: %v", err)
	}
}
