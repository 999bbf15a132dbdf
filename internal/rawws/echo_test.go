package rawws_test

import (
	"strings"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/rawws"
	"github.com/eventide/realtime/internal/ws"
)

func TestEchoShape(t *testing.T) {
	// A clock in another zone with sub-millisecond digits: the reply must be
	// UTC, truncated to milliseconds, as toISOString prints it.
	zone := time.FixedZone("UTC+2", 2*60*60)
	now := time.Date(2024, 1, 1, 14, 0, 0, 123_987_000, zone)
	f := start(t, rawws.Config{Clock: newFakeClock(now)})
	c := f.dial(t, "", nil)

	send(t, c, `{"event":"user-login","payload":{"userId":123, "username":"john_doe","tags":["a",1.5,null]}}`)
	got := string(read(t, c))
	want := `{"message":"Event received","payload":{"userId":123,"username":"john_doe","tags":["a",1.5,null]},"timestamp":"2024-01-01T12:00:00.123Z"}`
	if got != want {
		t.Fatalf("echo\n got %s\nwant %s", got, want)
	}
}

func TestEchoPayloads(t *testing.T) {
	now := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	f := start(t, rawws.Config{Clock: newFakeClock(now)})
	c := f.dial(t, "", nil)
	const ts = `"timestamp":"2024-01-01T12:00:00.000Z"`
	cases := []struct{ in, want string }{
		{`{"event":"a","payload":"text"}`, `{"message":"Event received","payload":"text",` + ts + `}`},
		{`{"event":"a","payload":42}`, `{"message":"Event received","payload":42,` + ts + `}`},
		{`{"event":"a","payload":null}`, `{"message":"Event received","payload":null,` + ts + `}`},
		// No payload: JSON.stringify drops an undefined payload, and so do we.
		{`{"event":"a"}`, `{"message":"Event received",` + ts + `}`},
		// Unknown fields are ignored, as the NestJS gateway ignored them.
		{`{"event":"a","payload":[1],"extra":true}`, `{"message":"Event received","payload":[1],` + ts + `}`},
		{`{"event":"a","payload":"<b>&</b>"}`, `{"message":"Event received","payload":"<b>&</b>",` + ts + `}`},
		{`  {"event":"ünïcode ✓","payload":{"s":"\u00e9"}} `, `{"message":"Event received","payload":{"s":"\u00e9"},` + ts + `}`},
	}
	for _, tc := range cases {
		send(t, c, tc.in)
		if got := string(read(t, c)); got != tc.want {
			t.Errorf("%s\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

func TestTimestampRealClock(t *testing.T) {
	f := start(t, rawws.Config{})
	c := f.dial(t, "", nil)
	before := time.Now().Truncate(time.Millisecond)
	send(t, c, `{"event":"ping","payload":{}}`)
	m := readJSON(t, c)
	after := time.Now()
	s, _ := m["timestamp"].(string)
	ts, err := time.Parse(rawws.TimestampLayout, s)
	if err != nil || len(s) != len("2024-01-01T12:00:00.000Z") || !strings.HasSuffix(s, "Z") {
		t.Fatalf("timestamp %q: want toISOString form (%v)", s, err)
	}
	if ts.Before(before) || ts.After(after) {
		t.Fatalf("timestamp %s not between %s and %s", ts, before, after)
	}
}

func TestInvalidMessagesKeepConnection(t *testing.T) {
	now := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	f := start(t, rawws.Config{Clock: newFakeClock(now)})
	c := f.dial(t, "", nil)
	cases := []struct {
		name, in, errHas string
	}{
		{"malformed", `{"event":"a",`, "malformed JSON"},
		{"not json", `hello`, "malformed JSON"},
		{"array", `[{"event":"a"}]`, "JSON object"},
		{"string", `"event"`, "JSON object"},
		{"no event", `{"payload":1}`, `"event" must be a non-empty string`},
		{"null event", `{"event":null}`, `"event" must be a non-empty string`},
		{"number event", `{"event":7,"payload":1}`, `"event" must be a non-empty string`},
		{"empty event", `{"event":""}`, `"event" must be a non-empty string`},
		{"empty message", ``, "malformed JSON"},
	}
	for _, tc := range cases {
		send(t, c, tc.in)
		m := readJSON(t, c)
		if m["message"] != "Invalid message" || m["timestamp"] != "2024-01-01T12:00:00.000Z" {
			t.Errorf("%s: reply %v", tc.name, m)
		}
		if e, _ := m["error"].(string); !strings.Contains(e, tc.errHas) {
			t.Errorf("%s: error %q, want it to mention %q", tc.name, e, tc.errHas)
		}
		if len(m) != 3 {
			t.Errorf("%s: reply has fields %v, want message, error, timestamp", tc.name, m)
		}
	}

	if err := c.WriteMessage(ws.OpBinary, []byte(`{"event":"a"}`)); err != nil {
		t.Fatal(err)
	}
	m := readJSON(t, c)
	if e, _ := m["error"].(string); m["message"] != "Invalid message" || !strings.Contains(e, "binary") {
		t.Errorf("binary frame: reply %v", m)
	}

	// The connection still echoes.
	send(t, c, `{"event":"after","payload":"ok"}`)
	if m := readJSON(t, c); m["message"] != "Event received" || m["payload"] != "ok" {
		t.Fatalf("echo after invalid messages: %v", m)
	}
	if n := f.svc.Count(); n != 1 {
		t.Fatalf("Count = %d, want 1", n)
	}
}

func TestOversizedMessageCloses1009(t *testing.T) {
	const limit = 1024
	f := start(t, rawws.Config{MaxMessage: limit})
	c, id := f.connect(t)

	// Exactly at the limit is fine.
	pad := strings.Repeat("x", limit-len(`{"event":"a","payload":""}`))
	send(t, c, `{"event":"a","payload":"`+pad+`"}`)
	if m := readJSON(t, c); m["message"] != "Event received" {
		t.Fatalf("message at the limit: %v", m)
	}

	send(t, c, `{"event":"a","payload":"`+pad+`x"}`)
	ce := readClose(t, c)
	if ce.Code != ws.CloseMessageTooBig {
		t.Fatalf("close code %d, want 1009", ce.Code)
	}
	waitFor(t, "client removed", func() bool { return f.svc.Count() == 0 })
	f.logs.waitLog(t, "limit reached", map[string]any{"limit": rawws.LimitMessageBytes, "client": string(id), "max": float64(limit)})
	f.logs.waitLog(t, "client disconnected", map[string]any{"client": string(id)})
	if n := f.limits.Count(rawws.LimitMessageBytes); n != 1 {
		t.Fatalf("%s counted %d times, want 1", rawws.LimitMessageBytes, n)
	}
}

func TestDefaultMaxMessage(t *testing.T) {
	f := start(t, rawws.Config{})
	c := f.dial(t, "", nil)
	send(t, c, `{"event":"a","payload":"`+strings.Repeat("y", rawws.DefaultMaxMessage)+`"}`)
	if ce := readClose(t, c); ce.Code != ws.CloseMessageTooBig {
		t.Fatalf("close code %d, want 1009", ce.Code)
	}
}
