package httpapi_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/httpapi"
	"github.com/eventide/realtime/internal/limits"
	"github.com/eventide/realtime/internal/store/sqlite"
)

// dial opens a raw connection to the test server.
func (e *env) dial() (net.Conn, *bufio.Reader) {
	e.t.Helper()
	c, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	// A guard against a hang, not a timing assumption.
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return c, bufio.NewReader(c)
}

func readResponse(t *testing.T, br *bufio.Reader) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// withLimits gives the env short deadlines and a Reporter.
func withLimits(rep *limits.Reporter, read, write time.Duration) option {
	return func(c *httpapi.Config, d *httpapi.Deps) {
		c.ReadTimeout, c.WriteTimeout = read, write
		d.Limits = rep
	}
}

// TestSlowBodyGets408: a body that does not arrive within the read timeout
// is answered 408 problem+json, the connection is closed, nothing is
// stored, and the limit is reported. An Upgrade header on a REST route
// changes nothing.
func TestSlowBodyGets408(t *testing.T) {
	rep := limits.New(limits.Config{})
	e := newEnv(t, withLimits(rep, 50*time.Millisecond, 0))
	for i, extra := range []string{"", "Connection: Upgrade\r\nUpgrade: websocket\r\n"} {
		c, br := e.dial()
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n%sContent-Length: 100\r\n\r\n{\"start\":",
			slotsPath, e.token(provider), extra)
		resp, body := readResponse(t, br)
		if resp.StatusCode != http.StatusRequestTimeout || resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(body, `"status":408`) {
			t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, body)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("connection still open after a 408: %v", err)
		}
		if got := rep.Count(httpapi.LimitBodyTimeout); got != uint64(i+1) {
			t.Fatalf("%s reported %d times", httpapi.LimitBodyTimeout, got)
		}
	}
	if n := e.count(); n != 0 {
		t.Fatalf("%d slots stored", n)
	}
}

// slowStore is the real SQLite store whose create and list take until
// release is closed, as a busy database would.
type slowStore struct {
	*sqlite.DB
	entered chan context.Context
	release chan struct{}
}

func (s slowStore) wait(ctx context.Context) {
	s.entered <- ctx
	<-s.release
}

func (s slowStore) CreateSlot(ctx context.Context, sl availability.Slot, at time.Time) (availability.Change, error) {
	s.wait(ctx)
	return s.DB.CreateSlot(ctx, sl, at)
}

func (s slowStore) ListSlots(ctx context.Context, p string, w availability.Window) ([]availability.Slot, error) {
	s.wait(ctx)
	return s.DB.ListSlots(ctx, p, w)
}

// TestSlowHandlerOutlivesTheReadDeadline: a request that has sent all of
// its body (or had none) keeps its context however long it is served;
// the read deadline is for the body only. (net/http cancels a request's
// context when its background read hits a read deadline.)
func TestSlowHandlerOutlivesTheReadDeadline(t *testing.T) {
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "slow.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	store := slowStore{DB: db, entered: make(chan context.Context, 1), release: make(chan struct{})}
	// The POST's body, sent with its headers, must be read within it: long
	// enough that a loaded machine does not fail that.
	const readTimeout = 2 * time.Second
	e := newEnv(t, withLimits(nil, readTimeout, 0), func(_ *httpapi.Config, d *httpapi.Deps) {
		d.Slots = availability.NewService(store, nil)
	})
	for _, rq := range []req{
		{method: "POST", path: slotsPath, token: e.token(provider), body: slotBody("2030-01-01T09:00:00Z", "2030-01-01T10:00:00Z")},
		{method: "GET", path: slotsPath, token: e.token(provider)},
	} {
		done := make(chan response, 1)
		go func() { done <- e.do(rq) }()
		ctx := <-store.entered
		// Past the read deadline (set before the handler was entered),
		// and its background read's wake-up: a lower bound only.
		time.Sleep(readTimeout + readTimeout/4)
		ended := ctx.Err()
		store.release <- struct{}{}
		r := <-done
		if ended != nil {
			t.Fatalf("%s: the handler's context ended: %v", rq.method, ended)
		}
		if r.status != http.StatusCreated && r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", rq.method, r.status, r.body)
		}
	}
}

// TestKeepAliveDoesNotPassADeadlineOn: after a REST request on a
// keep-alive connection, a Socket.IO request on the same connection is
// not bound by the REST request's write deadline.
func TestKeepAliveDoesNotPassADeadlineOn(t *testing.T) {
	// The /healthz answer must be written within it: long enough that a
	// loaded machine does not fail that.
	const writeTimeout = 2 * time.Second
	e := newEnv(t, withLimits(nil, 0, writeTimeout), func(_ *httpapi.Config, d *httpapi.Deps) {
		d.SocketIO = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// A long-poll: it answers after the REST request's write
			// deadline has passed (a lower bound only).
			time.Sleep(writeTimeout)
			w.Write([]byte(strings.Repeat("x", 1<<20)))
		})
	})
	c, br := e.dial()
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := readResponse(t, br); resp.StatusCode != 200 {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	fmt.Fprintf(c, "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := readResponse(t, br)
	if resp.StatusCode != 200 || len(body) != 1<<20 {
		t.Fatalf("long-poll after REST on one connection: %d, %d bytes", resp.StatusCode, len(body))
	}
}

// TestWriteTimeout: a client that does not read its answer is cut off at
// the write deadline and reported, rather than holding the handler.
func TestWriteTimeout(t *testing.T) {
	rep := limits.New(limits.Config{})
	served := make(chan error, 1)
	e := newEnv(t, withLimits(rep, 0, 50*time.Millisecond), func(_ *httpapi.Config, d *httpapi.Deps) {
		d.Web = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			chunk := make([]byte, 64<<10)
			for range 4096 { // 256 MiB: more than any socket buffer holds
				if _, err := w.Write(chunk); err != nil {
					served <- err
					return
				}
			}
			served <- nil
		})
	})
	c, _ := e.dial()
	fmt.Fprintf(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	// The client reads nothing.
	if err := <-served; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("handler write ended with %v, want a timeout", err)
	}
	waitFor(t, "the write timeout to be reported", func() bool { return rep.Count(httpapi.LimitWriteTimeout) == 1 })
}

// TestEngineRefusalsNotCountedAsREST: a 413 or 408 from Socket.IO (which
// reports it under its own limit's name) is not counted, nor logged, as a
// REST body limit too.
func TestEngineRefusalsNotCountedAsREST(t *testing.T) {
	rep := limits.New(limits.Config{})
	e := newEnv(t, withLimits(rep, 0, 0), func(_ *httpapi.Config, d *httpapi.Deps) {
		d.SocketIO = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("st") == "408" {
				w.WriteHeader(http.StatusRequestTimeout)
				return
			}
			w.WriteHeader(http.StatusRequestEntityTooLarge)
		})
	})
	for _, st := range []string{"413", "408"} {
		// Not e.do: the REST contract does not describe /socket.io/.
		resp, err := http.Post(e.srv.URL+"/socket.io/?EIO=4&transport=polling&st="+st, "text/plain", strings.NewReader("4x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if fmt.Sprint(resp.StatusCode) != st {
			t.Fatalf("status %d, want %s", resp.StatusCode, st)
		}
	}
	if n, m := rep.Count(httpapi.LimitBodyBytes), rep.Count(httpapi.LimitBodyTimeout); n != 0 || m != 0 {
		t.Fatalf("Socket.IO refusals counted as REST limits: %d body_bytes, %d body_read_timeout", n, m)
	}
}
