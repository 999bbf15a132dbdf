package rawws_test

import (
	"testing"

	"github.com/eventide/realtime/internal/rawws"
)

func TestLogs(t *testing.T) {
	f := start(t, rawws.Config{})
	if f.logs.find(t, "websocket gateway initialised", nil) == nil {
		t.Fatal("no gateway initialised log")
	}
	c, id := f.connect(t)
	conn := f.logs.waitLog(t, "client connected", map[string]any{"client": string(id)})
	if addr, _ := conn["addr"].(string); addr == "" {
		t.Errorf("client connected log without addr: %v", conn)
	}

	send(t, c, `{"event":"attendance-update","payload":{"attendeeId":456,"status":"present"}}`)
	readJSON(t, c)
	ev := f.logs.waitLog(t, "event received", map[string]any{"client": string(id), "event": "attendance-update"})
	p, ok := ev["payload"].(map[string]any)
	if !ok || p["attendeeId"] != float64(456) || p["status"] != "present" {
		t.Errorf("event log payload %v, want the payload as JSON", ev["payload"])
	}

	send(t, c, `{"event":`)
	readJSON(t, c)
	f.logs.waitLog(t, "invalid message", map[string]any{"client": string(id)})

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	f.logs.waitLog(t, "client disconnected", map[string]any{"client": string(id), "reason": "client closed"})
}
