package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/eventide/realtime/internal/auth"
)

// result is what a user sees of one eventide command.
type result struct {
	stdout, stderr string
	err            error
	code           int
}

// eventide runs one command to its end, as main would.
func eventide(t *testing.T, vars map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, env(vars), &stdout, &stderr)
	return result{stdout.String(), stderr.String(), err, exitCode(err)}
}

// TestTokenSignsWithTheServersSecret: wherever it is run, token signs with
// the secret the server verifies with, or refuses and says which file it
// looked for; it never creates a secret, and it says on stderr which one it
// used.
func TestTokenSignsWithTheServersSecret(t *testing.T) {
	data := t.TempDir()
	base, _, _, _ := startServe(t, "--data-dir", data)

	// Elsewhere (another working directory), without the server's
	// --data-dir: a clear refusal naming the file, and nothing created.
	elsewhere := t.TempDir()
	t.Chdir(elsewhere)
	r := eventide(t, nil, "token", "--sub", "a", "--role", "admin")
	want := filepath.Join(elsewhere, "data", "jwt-secret") + " does not exist"
	if r.code != 1 || r.err == nil || !strings.Contains(r.err.Error(), want) || !strings.Contains(r.err.Error(), "--data-dir") || r.stdout != "" {
		t.Fatalf("token without a secret: exit %d, %v, stdout %q; want exit 1 and %q", r.code, r.err, r.stdout, want)
	}
	if _, err := os.Stat(filepath.Join(elsewhere, "data")); !os.IsNotExist(err) {
		t.Fatalf("token created %s/data (%v)", elsewhere, err)
	}

	accepted := func(tok string) bool {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/providers/42/slots", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	// The server's data directory, by flag or by variable: accepted.
	file := filepath.Join(data, "jwt-secret")
	for _, tc := range []struct {
		vars map[string]string
		args []string
	}{
		{nil, []string{"--data-dir", data}},
		{map[string]string{"EVENTIDE_DATA_DIR": data}, nil},
	} {
		r := eventide(t, tc.vars, append([]string{"token", "--sub", "a", "--role", "client", "--providers", "42"}, tc.args...)...)
		if r.err != nil {
			t.Fatalf("%v %v: %v", tc.vars, tc.args, r.err)
		}
		if !accepted(strings.TrimSpace(r.stdout)) {
			t.Errorf("%v %v: the server refuses the token", tc.vars, tc.args)
		}
		if !strings.HasPrefix(r.stderr, "eventide token: signed with the dev secret in "+file+"; expires ") {
			t.Errorf("stderr does not say which secret: %q", r.stderr)
		}
	}

	// A secret given by flag or variable says so.
	r = eventide(t, nil, "token", "--sub", "a", "--role", "admin", "--jwt-secret", testSecret)
	if r.err != nil || !strings.HasPrefix(r.stderr, "eventide token: signed with the secret of --jwt-secret;") {
		t.Errorf("--jwt-secret: %v, stderr %q", r.err, r.stderr)
	}
	r = eventide(t, map[string]string{"EVENTIDE_JWT_SECRET": testSecret}, "token", "--sub", "a", "--role", "admin")
	if r.err != nil || !strings.HasPrefix(r.stderr, "eventide token: signed with the secret of EVENTIDE_JWT_SECRET;") {
		t.Errorf("EVENTIDE_JWT_SECRET: %v, stderr %q", r.err, r.stderr)
	}
}

// TestTokenRefusesWhatTheServerWouldRefuse: a server that verifies with a
// public key, or a production server, never gets an HS256 token from a dev
// secret file.
func TestTokenRefusesWhatTheServerWouldRefuse(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemFile := filepath.Join(t.TempDir(), "jwt.pub")
	if err := os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "jwt-secret"), []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		vars map[string]string
		args []string
		want string
	}{
		{map[string]string{"EVENTIDE_JWT_PUBLIC_KEY": pemFile}, nil, "the public key of EVENTIDE_JWT_PUBLIC_KEY"},
		{nil, []string{"--jwt-public-key", pemFile}, "the public key of --jwt-public-key"},
		{map[string]string{"EVENTIDE_ENV": "production"}, nil, "production: token needs the server's --jwt-secret"},
		{nil, []string{"--jwt-secret", "short"}, "--jwt-secret is 5 bytes long; it must be at least 16"},
		{map[string]string{"EVENTIDE_ENV": "prod"}, nil, `--env must be dev or production, not "prod"`},
	} {
		args := append([]string{"token", "--sub", "a", "--role", "admin", "--data-dir", data}, tc.args...)
		r := eventide(t, tc.vars, args...)
		if r.code != 1 || r.err == nil || !strings.Contains(r.err.Error(), tc.want) || r.stdout != "" {
			t.Errorf("%v %v: exit %d, %v, stdout %q; want %q", tc.vars, tc.args, r.code, r.err, r.stdout, tc.want)
		}
	}
}

// TestTokenClaimsInFlagTerms: the claim flags are checked together and in
// the flags' own names; a token that could do nothing is refused.
func TestTokenClaimsInFlagTerms(t *testing.T) {
	vars := map[string]string{"EVENTIDE_JWT_SECRET": testSecret}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--role", "provider"}, []string{"--sub is required", "--role provider needs --provider-id"}},
		{[]string{"--sub", "a", "--role", "client"}, []string{"--role client needs --providers", "can watch nothing"}},
		{[]string{"--sub", "a"}, []string{"--role is required: provider, client or admin"}},
		{[]string{"--sub", "a", "--role", "root"}, []string{`--role must be provider, client or admin, not "root"`}},
		{[]string{"--sub", "a", "--role", "admin", "--providers", "42"}, []string{"--providers is for --role client"}},
		{[]string{"--sub", "a", "--role", "client", "--providers", "42", "--provider-id", "42"}, []string{"--provider-id is for --role provider"}},
		{[]string{"--sub", "a", "--role", "provider", "--provider-id", "4 2"}, []string{`--provider-id "4 2": a provider id is`}},
		{[]string{"--sub", "a", "--role", "client", "--providers", "42,x/y"}, []string{`--providers: "x/y" is not a provider id`}},
	} {
		r := eventide(t, vars, append([]string{"token"}, tc.args...)...)
		if r.code != 2 || r.stdout != "" || r.stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and only the error", tc.args, r.code, r.stdout, r.stderr)
		}
		for _, w := range tc.want {
			if r.err == nil || !strings.Contains(r.err.Error(), w) {
				t.Errorf("%v: %v, want it to say %q", tc.args, r.err, w)
			}
		}
		if r.err != nil && (strings.Contains(r.err.Error(), "providerId") || !strings.HasSuffix(r.err.Error(), `see "eventide token --help"`)) {
			t.Errorf("%v: %v: not in the flags' terms, or no pointer to the help", tc.args, r.err)
		}
	}
	// --providers * is every provider.
	r := eventide(t, vars, "token", "--sub", "a", "--role", "client", "--providers", "*")
	v, _ := auth.NewVerifier([]byte(testSecret))
	if c, err := v.Verify(strings.TrimSpace(r.stdout)); r.err != nil || err != nil || !auth.CanWatch(c, "99") {
		t.Errorf("--providers '*': %v %v %+v", r.err, err, c)
	}
}

// TestHelpOfEachCommand: --help (and -h, and "eventide help CMD") prints the
// command's own flags to stdout and succeeds.
func TestHelpOfEachCommand(t *testing.T) {
	serveFS, _, _ := newServeFlags(env(nil))
	var serveFlags []string
	serveFS.VisitAll(func(f *flag.Flag) { serveFlags = append(serveFlags, "--"+f.Name) })

	for _, tc := range []struct {
		cmd          string
		want, absent []string
	}{
		{"serve", serveFlags, nil},
		{"token", []string{"--sub", "--role", "--provider-id", "--providers", "--ttl", "--data-dir", "--jwt-secret", "--jwt-public-key", "--env"}, []string{"--addr", "--max-conns", "--database-url", "--ping-interval"}},
		{"migrate", []string{"--database-url", "--data-dir", "--db-max-conns", "--log-level"}, []string{"--addr", "--jwt-secret", "--max-conns", "--sub"}},
		{"conformance", []string{"--addr", "-v"}, []string{"--jwt-secret"}},
	} {
		for _, args := range [][]string{{tc.cmd, "--help"}, {tc.cmd, "-h"}, {"help", tc.cmd}} {
			r := eventide(t, nil, args...)
			if r.code != 0 || r.err != nil || r.stderr != "" {
				t.Errorf("%v: exit %d, %v, stderr %q", args, r.code, r.err, r.stderr)
				continue
			}
			if !strings.HasPrefix(r.stdout, "Usage: eventide "+tc.cmd) {
				t.Errorf("%v: help starts %.60q", args, r.stdout)
			}
			listed := map[string]bool{}
			for _, m := range regexp.MustCompile(`(?m)^  (--?[a-z0-9-]+)`).FindAllStringSubmatch(r.stdout, -1) {
				listed[m[1]] = true
			}
			for _, w := range tc.want {
				if !listed[w] && !listed[strings.TrimPrefix(w, "-")] {
					t.Errorf("%v: %s not listed", args, w)
				}
			}
			for _, a := range tc.absent {
				if listed[a] {
					t.Errorf("%v: lists %s, a flag it does not read", args, a)
				}
			}
		}
	}
	for _, args := range [][]string{{"--help"}, {"help"}, {"-h"}} {
		if r := eventide(t, nil, args...); r.code != 0 || !strings.Contains(r.stdout, "Commands:") {
			t.Errorf("%v: exit %d, %q", args, r.code, r.stdout)
		}
	}
}

// TestFlagMistakesAreOneLine: a typo, a bad value or a stray argument is one
// line that points to the command's help (no flag list), with exit status 2.
func TestFlagMistakesAreOneLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--adr", ":8080"}, "serve: unknown flag --adr (did you mean --addr?)"},
		{[]string{"serve", "--max-con", "5"}, "serve: unknown flag --max-con (did you mean --max-conns?)"},
		{[]string{"token", "--sub", "a", "--rol", "admin"}, "token: unknown flag --rol (did you mean --role?)"},
		{[]string{"token", "--sub", "a", "--role", "admin", "--addr", ":1"}, "token: unknown flag --addr (--addr is a flag of eventide serve; token does not use it)"},
		{[]string{"migrate", "--jwt-secret", "x"}, "migrate: unknown flag --jwt-secret (--jwt-secret is a flag of eventide serve; migrate does not use it)"},
		{[]string{"migrate", "--frobnicate"}, "migrate: unknown flag --frobnicate"},
		{[]string{"conformance", "--adr", "x"}, "conformance: unknown flag --adr (did you mean --addr?)"},
		{[]string{"serve", "--ping-interval", "25"}, `serve: --ping-interval "25" is not a duration (such as 30s, 5m or 1h)`},
		{[]string{"serve", "--max-conns", "many"}, `serve: --max-conns "many" is not a whole number`},
		{[]string{"token", "--sub"}, "token: flag needs an argument: --sub"},
		{[]string{"token", "--sub", "a", "--role", "admin", "extra"}, `token: unexpected argument "extra"`},
		{[]string{"serve", "8080"}, `serve: unexpected argument "8080"`},
		{[]string{"--addr", ":8080"}, `flags follow the command, as in "eventide serve --addr :8080"`},
	} {
		r := eventide(t, nil, tc.args...)
		if r.code != 2 || r.err == nil || r.stdout != "" || r.stderr != "" {
			t.Errorf("%v: exit %d, %v, stdout %q, stderr %q; want exit 2 and the error alone", tc.args, r.code, r.err, r.stdout, r.stderr)
			continue
		}
		msg := r.err.Error()
		if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") || !strings.Contains(msg, "--help") {
			t.Errorf("%v: %q; want one line with %q and a pointer to --help", tc.args, msg, tc.want)
		}
	}
}

// TestConfigurationProblemsAllAtOnce: every problem of a configuration is
// reported in one run, each saying what to change, environment variables
// included.
func TestConfigurationProblemsAllAtOnce(t *testing.T) {
	r := eventide(t, map[string]string{"EVENTIDE_PING_TIMEOUT": "20", "EVENTIDE_LOG_LEVEL": "verbose"},
		"serve", "--env", "production", "--addr", "8080", "--raw-addr", "localhost", "--data-dir", t.TempDir(),
		"--cors-origins", "*", "--http-max-body-bytes", "10")
	if r.code != 1 || r.err == nil {
		t.Fatalf("exit %d, %v", r.code, r.err)
	}
	msg := r.err.Error()
	for _, want := range []string{
		"7 problems with the configuration:",
		`--addr "8080": a port alone is not an address: write ":8080"`,
		`--raw-addr "localhost": missing port in address; write host:port`,
		`EVENTIDE_PING_TIMEOUT="20" is not a duration (such as 30s, 5m or 1h) (it sets --ping-timeout)`,
		`--log-level must be debug, info, warn or error, not "verbose"`,
		"--http-max-body-bytes must be at least 1024, not 10",
		"production needs --jwt-secret or --jwt-public-key",
		"production does not allow the CORS origin *",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error does not say %q:\n%s", want, msg)
		}
	}
	// A flag wins over its variable, so a bad variable it overrides is
	// no problem.
	r = eventide(t, map[string]string{"EVENTIDE_PING_TIMEOUT": "20"}, "serve", "--ping-timeout", "20s", "--addr", "8080", "--data-dir", t.TempDir())
	if r.err == nil || strings.Contains(r.err.Error(), "PING_TIMEOUT") {
		t.Errorf("a variable the flag overrides is reported: %v", r.err)
	}
	// Public key and secret together: the secret would be ignored.
	r = eventide(t, nil, "serve", "--jwt-secret", testSecret, "--jwt-public-key", "/nonexistent.pem", "--data-dir", t.TempDir())
	for _, want := range []string{"--jwt-secret and --jwt-public-key are both set", `--jwt-public-key "/nonexistent.pem" (a PEM file)`} {
		if r.err == nil || !strings.Contains(r.err.Error(), want) {
			t.Errorf("secret and missing key: %v, want %q", r.err, want)
		}
	}
}

// TestListenErrorsNameTheFlag: an address in use names the flag to change.
func TestListenErrorsNameTheFlag(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().String()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--addr", taken, "--raw-addr", ""}, "--addr " + taken + ": the address is in use"},
		{[]string{"--addr", "127.0.0.1:0", "--raw-addr", taken}, "--raw-addr " + taken + ": the address is in use"},
	} {
		args := append([]string{"serve", "--admin-addr", "", "--data-dir", t.TempDir()}, tc.args...)
		r := eventide(t, nil, args...)
		if r.code != 1 || r.err == nil || !strings.Contains(r.err.Error(), tc.want) || !strings.Contains(r.err.Error(), "choose a free port with") {
			t.Errorf("%v: exit %d, %v; want %q", tc.args, r.code, r.err, tc.want)
		}
	}
	r := eventide(t, nil, "serve", "--addr", "127.0.0.1:18080", "--raw-addr", "127.0.0.1:18080", "--data-dir", t.TempDir())
	if r.err == nil || !strings.Contains(r.err.Error(), `--addr and --raw-addr are both "127.0.0.1:18080"`) {
		t.Errorf("one address for two listeners: %v", r.err)
	}
}

// TestDatabasePaths: eventide creates only its data directory; any other
// directory of a SQLite path must exist. Errors name the path, and a
// failed start leaves no directory behind.
func TestDatabasePaths(t *testing.T) {
	dir := t.TempDir()
	// An explicit path in a directory that does not exist.
	missing := filepath.Join(dir, "typo", "e.db")
	r := eventide(t, nil, "migrate", "--database-url", missing)
	if r.code != 1 || r.err == nil || !strings.Contains(r.err.Error(), "cannot create "+missing+": the directory "+filepath.Dir(missing)+" does not exist") {
		t.Errorf("missing directory: exit %d, %v", r.code, r.err)
	}
	// Not a database file: the error names it.
	notDB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notDB, bytes.Repeat([]byte("not a database\n"), 100), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := eventide(t, nil, "migrate", "--database-url", notDB); r.err == nil || !strings.Contains(r.err.Error(), notDB) {
		t.Errorf("not a database: %v", r.err)
	}
	// An unknown scheme is not taken for a file name.
	r = eventide(t, nil, "migrate", "--database-url", "mysql://db/eventide")
	if r.err == nil || !strings.Contains(r.err.Error(), `unknown scheme "mysql"`) {
		t.Errorf("mysql URL: %v", r.err)
	}
	// The data directory is created for the default database, parents
	// included, and said so in the log.
	data := filepath.Join(dir, "new", "data")
	r = eventide(t, nil, "migrate", "--data-dir", data)
	if r.err != nil || !strings.Contains(r.stdout, "schema up to date: "+filepath.Join(data, "eventide.db")) || !strings.Contains(r.stderr, "created the data directory") {
		t.Errorf("migrate --data-dir: %v %q %q", r.err, r.stdout, r.stderr)
	}
	// A data directory created for a database that then fails to open is
	// removed again (a read-only open of a file that does not exist).
	gone := filepath.Join(dir, "gone", "data")
	r = eventide(t, nil, "migrate", "--data-dir", gone, "--database-url", "file:"+filepath.Join(gone, "eventide.db")+"?mode=ro")
	if r.err == nil || !strings.Contains(r.err.Error(), filepath.Join(gone, "eventide.db")) {
		t.Errorf("read-only open of a missing file: %v", r.err)
	}
	if _, err := os.Stat(filepath.Join(dir, "gone")); !os.IsNotExist(err) {
		t.Errorf("a failed open left %s behind (%v)", filepath.Join(dir, "gone"), err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "new,notes.txt" {
		t.Errorf("left in %s: %v, want only new and notes.txt", dir, names)
	}
}

// TestDevModeLogSaysTheOrigins: the dev-mode warning says what CORS allows
// as configured.
func TestDevModeLogSaysTheOrigins(t *testing.T) {
	_, _, stderr, stop := startServe(t, "--cors-origins", "https://app.example,https://admin.example")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "dev mode: CORS allows only --cors-origins (https://app.example, https://admin.example)") || strings.Contains(stderr.String(), "CORS allows any origin") {
		t.Errorf("dev mode log with --cors-origins:\n%s", stderr)
	}
}
