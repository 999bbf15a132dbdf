package engineio

import (
	"errors"
	"net/http"
	"sync"
	"testing"
)

// countingObserver records what the engine reports.
type countingObserver struct {
	mu     sync.Mutex
	counts map[string]int
}

func (o *countingObserver) add(key string, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.counts == nil {
		o.counts = map[string]int{}
	}
	o.counts[key] += n
}

func (o *countingObserver) get(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.counts[key]
}

func (o *countingObserver) Handshake(transport string, proto int) {
	o.add("handshake "+transport+" "+string(rune('0'+proto)), 1)
}
func (o *countingObserver) HandshakeRefused(reason string) { o.add("refused "+reason, 1) }
func (o *countingObserver) Closed(reason string)           { o.add("closed "+reason, 1) }
func (o *countingObserver) QueueDropped(n int)             { o.add("dropped", n) }
func (o *countingObserver) BytesWritten(transport string, n int) {
	o.add("bytes "+transport, n)
}

func TestObserverSeesSessions(t *testing.T) {
	obs := &countingObserver{}
	e := newEnv(t, Config{Observer: obs, SendQueue: 1, AllowRequest: func(r *http.Request) error {
		if r.Header.Get("Origin") == "https://evil.example" {
			return errors.New("origin")
		}
		return nil
	}})

	_, pr := e.handshakeV4()
	ws, wr := e.openWS()
	if obs.get("handshake polling 4") != 1 || obs.get("handshake websocket 4") != 1 {
		t.Fatalf("handshakes: %v", obs.counts)
	}
	// Counted once written, which can be after the client has read it.
	waitUntil(t, "the handshake's poll response counted", func() bool { return obs.get("bytes polling") > 0 })
	want := map[ConnCount]bool{{"polling", 4, 1}: true, {"websocket", 4, 1}: true, {"polling", 3, 0}: true, {"websocket", 3, 0}: true}
	for _, c := range e.srv.ConnCounts() {
		if !want[c] {
			t.Errorf("ConnCounts has %+v", c)
		}
	}

	before := obs.get("bytes websocket")
	if err := wr.conn.Send(TextMessage([]byte("hello"))); err != nil {
		t.Fatal(err)
	}
	readWS(t, ws)
	waitUntil(t, "the frame counted", func() bool { return obs.get("bytes websocket") >= before+len("4hello")+2 })

	// Refusals by reason; a bad request of an existing session is not one.
	e.get("EIO=4&transport=carrier-pigeon")
	e.get("EIO=9&transport=polling")
	e.get("EIO=4&transport=polling&sid=nope-not-a-session-x")
	e.request(http.MethodGet, "EIO=4&transport=polling", http.Header{"Origin": {"https://evil.example"}}, "")
	if got := obs.get("refused bad_request"); got != 2 {
		t.Errorf("bad_request refusals: %d, want 2", got)
	}
	if got := obs.get("refused forbidden"); got != 1 {
		t.Errorf("forbidden refusals: %d, want 1", got)
	}

	// A polling session with nobody polling: its queue of 1 overflows.
	if err := pr.conn.Send(TextMessage([]byte("a"))); err != nil {
		t.Fatal(err)
	}
	if err := pr.conn.Send(TextMessage([]byte("b")), TextMessage([]byte("c"))); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("second send: %v", err)
	}
	pr.wantClose(t, ReasonQueueOverflow)
	if obs.get("dropped") != 2 || obs.get("closed send queue overflow") != 1 {
		t.Errorf("overflow: %v", obs.counts)
	}
}
