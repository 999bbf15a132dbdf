package rawws_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/eventide/realtime/internal/rawws"
)

// stubAuth accepts the token "good" from ?token= or "Authorization: Bearer".
func stubAuth(r *http.Request) error {
	tok := r.URL.Query().Get("token")
	if tok == "" {
		tok = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	if tok != "good" {
		return errors.New("invalid token")
	}
	return nil
}

// upgradeStatus sends a WebSocket upgrade request and returns the status.
func upgradeStatus(t *testing.T, f *fixture, query string, header http.Header) (int, string) {
	t.Helper()
	url := f.srv.URL + "/"
	if query != "" {
		url += "?" + query
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return resp.StatusCode, "" // the body is the WebSocket now
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return resp.StatusCode, string(body)
}

func TestProductionRequiresToken(t *testing.T) {
	f := start(t, rawws.Config{RequireToken: true, Authenticate: stubAuth})

	for _, tc := range []struct {
		name, query string
		header      http.Header
	}{
		{"no token", "", nil},
		{"bad query token", "token=bad", nil},
		{"bad header token", "", http.Header{"Authorization": {"Bearer bad"}}},
	} {
		status, body := upgradeStatus(t, f, tc.query, tc.header)
		if status != http.StatusUnauthorized || !strings.Contains(body, "token") {
			t.Errorf("%s: %d %q, want 401 naming the token", tc.name, status, body)
		}
	}
	f.logs.waitLog(t, "websocket connection refused", map[string]any{"err": "invalid token"})
	if n := f.svc.Count(); n != 0 {
		t.Fatalf("Count = %d after refused connections", n)
	}

	for _, tc := range []struct {
		name, query string
		header      http.Header
	}{
		{"query token", "token=good", nil},
		{"header token", "", http.Header{"Authorization": {"Bearer good"}}},
	} {
		c := f.dial(t, tc.query, tc.header)
		send(t, c, `{"event":"auth","payload":"`+tc.name+`"}`)
		if m := readJSON(t, c); m["message"] != "Event received" || m["payload"] != tc.name {
			t.Errorf("%s: %v", tc.name, m)
		}
	}
}

func TestRequireTokenWithoutAuthenticatorRefuses(t *testing.T) {
	f := start(t, rawws.Config{RequireToken: true})
	if status, _ := upgradeStatus(t, f, "token=good", nil); status != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", status)
	}
}

func TestDevAcceptsAnyone(t *testing.T) {
	called := false
	f := start(t, rawws.Config{Authenticate: func(*http.Request) error { called = true; return errors.New("no") }})
	c := f.dial(t, "", nil)
	send(t, c, `{"event":"dev","payload":1}`)
	if m := readJSON(t, c); m["message"] != "Event received" {
		t.Fatalf("dev: %v", m)
	}
	if called {
		t.Fatal("Authenticate called in dev mode")
	}
}

func TestOrigin(t *testing.T) {
	// Any origin by default, as the NestJS gateway allowed.
	f := start(t, rawws.Config{})
	c := f.dial(t, "", http.Header{"Origin": {"https://anywhere.example"}})
	send(t, c, `{"event":"o","payload":1}`)
	if m := readJSON(t, c); m["message"] != "Event received" {
		t.Fatalf("any origin: %v", m)
	}

	g := start(t, rawws.Config{CheckOrigin: func(r *http.Request) bool {
		return r.Header.Get("Origin") == "https://app.example"
	}})
	if status, _ := upgradeStatus(t, g, "", http.Header{"Origin": {"https://evil.example"}}); status != http.StatusForbidden {
		t.Fatalf("foreign origin: status %d, want 403", status)
	}
	if status, _ := upgradeStatus(t, g, "", http.Header{"Origin": {"https://app.example"}}); status != http.StatusSwitchingProtocols {
		t.Fatalf("allowed origin: status %d, want 101", status)
	}
}

func TestPlainHTTPGetsUpgradeRequired(t *testing.T) {
	f := start(t, rawws.Config{})
	resp, err := f.srv.Client().Get(f.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Fatalf("plain GET: status %d, want a 4xx", resp.StatusCode)
	}
	if n := f.svc.Count(); n != 0 {
		t.Fatalf("Count = %d", n)
	}
}
