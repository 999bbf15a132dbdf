package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rawConn is a client connection to a running server.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, base string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// A guard against a hang, not a timing assumption.
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	return &rawConn{c, bufio.NewReader(c)}
}

// get sends a keep-alive GET and returns the status and body.
func (c *rawConn) get(t *testing.T, path string, header ...string) (int, string) {
	t.Helper()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n", path, strings.Join(header, ""))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

// closed waits until the server closes c.
func (c *rawConn) closed() bool {
	_, err := c.br.ReadByte()
	return err == io.EOF
}

// TestServedWhileConnectionsAreHeld: with more idle keep-alive and silent
// connections open than the connection cap, REST, /healthz and a new
// Socket.IO client are still served.
func TestServedWhileConnectionsAreHeld(t *testing.T) {
	const maxConns = 50
	// Long idle and header timeouts: the cap, not a timeout, makes room.
	base, stdout, stderr, _ := startServe(t, "--max-conns", fmt.Sprint(maxConns), "--http-idle-timeout", "1h", "--http-header-timeout", "1h")
	if !strings.Contains(stderr.String(), fmt.Sprintf("max_conns=%d", maxConns)) {
		t.Fatalf("the cap is not logged:\n%s", stderr)
	}
	for range 2 * maxConns {
		if st, _ := dialRaw(t, base).get(t, "/healthz"); st != 200 {
			t.Fatalf("healthz %d", st)
		}
	}
	for range maxConns / 2 {
		fmt.Fprint(dialRaw(t, base), "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	}
	for deadline := time.Now().Add(guard); !strings.Contains(stdout.String(), "dev token"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no dev token printed")
		}
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	token := lines[len(lines)-1]
	if st, body := dialRaw(t, base).get(t, "/api/v1/providers/42/slots", "Authorization: Bearer "+token+"\r\n"); st != 200 || !strings.Contains(body, `"slots":[]`) {
		t.Fatalf("REST: %d %s", st, body)
	}
	if st, _ := dialRaw(t, base).get(t, "/healthz"); st != 200 {
		t.Fatalf("healthz: %d", st)
	}
	if st, body := dialRaw(t, base).get(t, "/socket.io/?EIO=4&transport=polling"); st != 200 || !strings.HasPrefix(body, `0{"sid":`) {
		t.Fatalf("Socket.IO handshake: %d %s", st, body)
	}
	if !strings.Contains(stderr.String(), `limit=http.conns`) {
		t.Fatalf("the cap's hits are not logged:\n%s", stderr)
	}
}

// TestHTTPEdgeLimits: header size, header time and idle time are bounded
// on the listeners as configured.
func TestHTTPEdgeLimits(t *testing.T) {
	// Timeouts long enough that a busy machine sends a whole request within
	// them; the closes below are waited for, however long they take.
	base, _, _, _ := startServe(t, "--http-header-timeout", "2s", "--http-idle-timeout", "2s")
	c := dialRaw(t, base)
	if st, _ := c.get(t, "/healthz", "X-Big: "+strings.Repeat("a", 8<<10)+"\r\n"); st != 200 {
		t.Fatalf("8 KiB of headers: %d", st)
	}
	// The server answers 431 and closes with the rest of the headers
	// unread: a client that reads the answer later than net/http lingers
	// (a busy machine) gets a reset instead. Either way it is refused.
	big := dialRaw(t, base)
	fmt.Fprintf(big, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 24<<10))
	if resp, err := http.ReadResponse(big.br, nil); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("24 KiB of headers: %d", resp.StatusCode)
		}
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("24 KiB of headers: %v", err)
	}
	// Idle after a request, and silent mid-headers: both are closed.
	if !c.closed() {
		t.Fatal("an idle keep-alive connection was not closed")
	}
	slow := dialRaw(t, base)
	fmt.Fprint(slow, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	if !slow.closed() {
		t.Fatal("a connection that never finished its headers was not closed")
	}
}

func TestLimitFlagsAreChecked(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--page-size", "600"}, "--page-size"},
		{[]string{"--http-read-timeout", "0s"}, "--http-read-timeout"},
		{[]string{"--db-max-conns", "-1"}, "--db-max-conns"},
		{[]string{"--max-conns", "-1"}, "--max-conns"},
	} {
		args := append([]string{"serve", "--addr", "127.0.0.1:0", "--raw-addr", "", "--data-dir", t.TempDir()}, tc.args...)
		err := run(context.Background(), args, env(nil), &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to name %s", tc.args, err, tc.want)
		}
	}
	// The environment sets them too.
	_, _, stderr, _ := startServeEnv(t, map[string]string{"EVENTIDE_MAX_CONNS": "77", "EVENTIDE_DB_MAX_CONNS": "3"})
	if !strings.Contains(stderr.String(), "max_conns=77 db_max_conns=3") {
		t.Fatalf("EVENTIDE_MAX_CONNS / EVENTIDE_DB_MAX_CONNS not applied:\n%s", stderr)
	}
}
