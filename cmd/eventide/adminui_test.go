package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/eventide/realtime/internal/adminui"
)

// TestHashPassword: `eventide hash-password` prints a bcrypt hash of the
// first line of stdin, which --admin-ui-auth accepts; an empty password is
// a usage error.
func TestHashPassword(t *testing.T) {
	var out bytes.Buffer
	if err := runHashPassword(context.Background(), nil, strings.NewReader("a long password\n"), &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	hash := strings.TrimSpace(out.String())
	if err := adminui.CheckHash(hash); err != nil || !strings.HasPrefix(hash, "$2a$10$") {
		t.Fatalf("hash %q: %v", hash, err)
	}
	err := runHashPassword(context.Background(), nil, strings.NewReader("\n"), &out, &bytes.Buffer{})
	if exitCode(err) != 2 {
		t.Fatalf("empty password: %v", err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"hash-password", "--help"}, env(nil), &out, &bytes.Buffer{}); err != nil || !strings.Contains(out.String(), "--admin-ui-auth") {
		t.Fatalf("--help: %v %q", err, out.String())
	}
}

// TestAdminUIFlags: the admin UI's settings that cannot work are refused
// at start, all at once, naming the flag.
func TestAdminUIFlags(t *testing.T) {
	hash, err := adminui.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--admin-ui-auth", "admin:plain-password"}, []string{"--admin-ui-auth admin:...", "not a bcrypt hash", "hash-password"}},
		{[]string{"--admin-ui-auth", hash}, []string{"--admin-ui-auth must be user:<bcrypt hash>"}},
		{[]string{"--admin-ui-auth", "admin:" + hash, "--admin-ui-mode", "prod"}, []string{"--admin-ui-mode must be development or production"}},
		{[]string{"--admin-ui-readonly"}, []string{"need the admin UI on"}},
		{[]string{"--admin-ui-no-auth", "--env", "production", "--cors-origins", "https://a.example"}, []string{"--admin-ui-no-auth is refused in production"}},
	} {
		args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir, "--jwt-secret", testSecret}, tc.args...)
		err := run(context.Background(), args, env(nil), &bytes.Buffer{}, &bytes.Buffer{})
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: err = %v, want it to say %q", tc.args, err, w)
			}
		}
		if err != nil && strings.Contains(err.Error(), "plain-password") {
			t.Errorf("the error shows what may be a password: %v", err)
		}
	}
	// The variable works as the flag; the mode follows --env.
	_, _, stderr, stop := startServeEnv(t, map[string]string{"EVENTIDE_ADMIN_UI_AUTH": "admin:" + hash}, "--jwt-secret", testSecret)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "admin UI on the /admin namespace") || !strings.Contains(stderr.String(), "mode=development") {
		t.Fatalf("log: %s", stderr)
	}
}
