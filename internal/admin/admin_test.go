package admin_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/eventide/realtime/internal/admin"
)

func TestListenServesGoroutineCount(t *testing.T) {
	srv, err := admin.Listen("127.0.0.1:0", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	for path, want := range map[string]string{
		"/debug/pprof/goroutine?debug=1": "goroutine profile: total ",
		"/debug/pprof/":                  "goroutine",
		"/debug/pprof/cmdline":           "admin.test",
	} {
		resp, err := http.Get("http://" + srv.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, body lacks %q:\n%.300s", path, resp.StatusCode, want, body)
		}
	}
	resp, err := http.Get("http://" + srv.Addr() + "/api/v1/providers/1/slots")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("the admin listener answers %d for a public route, want 404", resp.StatusCode)
	}
}

func TestListenRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{":9090", "0.0.0.0:9090", "[::]:9090", "10.1.2.3:9090", "example.com:9090", "9090"} {
		if srv, err := admin.Listen(addr, nil, nil); err == nil {
			srv.Shutdown(context.Background())
			t.Errorf("Listen(%q) accepted a non-loopback address", addr)
		}
	}
	for _, addr := range []string{"127.0.0.1:9090", "127.3.2.1:0", "[::1]:0", "localhost:9090"} {
		if err := admin.CheckAddr(addr); err != nil {
			t.Errorf("CheckAddr(%q) = %v", addr, err)
		}
	}
}

func TestShutdownTwiceAndNil(t *testing.T) {
	srv, err := admin.Listen("127.0.0.1:0", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr()
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if _, err := http.Get("http://" + addr + "/debug/pprof/"); err == nil {
		t.Error("still serving after Shutdown")
	}
	var none *admin.Server
	if none.Shutdown(context.Background()) != nil || none.Addr() != "" {
		t.Error("a nil Server is not a disabled listener")
	}
}
