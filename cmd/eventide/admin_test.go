package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

var adminListenRE = regexp.MustCompile(`listener=admin addr=(\S+)`)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAdminListenerServesPprofOnlyThere(t *testing.T) {
	base, _, stderr, stop := startServe(t, "--admin-addr", "127.0.0.1:0")
	m := adminListenRE.FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no admin listener in the log:\n%s", stderr)
	}
	status, body := get(t, "http://"+m[1]+"/debug/pprof/goroutine?debug=1")
	if status != http.StatusOK || !strings.HasPrefix(body, "goroutine profile: total ") {
		t.Fatalf("admin goroutine profile: %d %.200s", status, body)
	}
	// The public listener never serves the profiles.
	for _, path := range []string{"/debug/pprof/goroutine?debug=1", "/debug/pprof/", "/debug/pprof/cmdline"} {
		if _, body := get(t, base+path); strings.Contains(body, "goroutine profile") || strings.Contains(body, "Types of profiles available") || strings.Contains(body, "eventide.test") {
			t.Errorf("public %s serves the admin surface: %.200s", path, body)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + m[1] + "/debug/pprof/"); err == nil {
		t.Error("admin listener still serving after shutdown")
	}
}

func TestAdminAddrMustBeLoopback(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--raw-addr", "", "--data-dir", t.TempDir(), "--admin-addr", "0.0.0.0:0"},
		env(map[string]string{}), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "not loopback") {
		t.Fatalf("serve with a public admin address: %v", err)
	}
}

func TestAdminAddrTaken(t *testing.T) {
	// An address the operator chose must bind.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var stdout, stderr bytes.Buffer
	err = run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--raw-addr", "", "--data-dir", t.TempDir(), "--admin-addr", ln.Addr().String()},
		env(map[string]string{}), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--admin-addr "+ln.Addr().String()+": the address is in use") {
		t.Fatalf("serve with a taken admin address: %v", err)
	}

	// The default address is best effort: held here (or by anyone else on
	// this machine), the server starts without it and says so.
	if held, err := net.Listen("tcp", "127.0.0.1:9090"); err == nil {
		defer held.Close()
	}
	base, _, logs, stop := startServe(t)
	if status, _ := get(t, base+"/healthz"); status != http.StatusOK {
		t.Fatalf("/healthz %d", status)
	}
	if !strings.Contains(logs.String(), "admin listener not started") {
		t.Errorf("no warning about the default admin address:\n%s", logs)
	}
	_ = stop()
}

func TestAdminAddrEmptyDisables(t *testing.T) {
	_, _, logs, stop := startServe(t, "--admin-addr", "")
	defer stop()
	// The listeners are logged before /healthz answers: no waiting needed.
	if strings.Contains(logs.String(), "listener=admin") {
		t.Errorf("admin listener started though disabled:\n%s", logs)
	}
}
