package socketio

import (
	"sync"
	"testing"
	"time"
)

// recordingObserver records what the Socket.IO layer reports.
type recordingObserver struct {
	mu         sync.Mutex
	sent       map[string]int
	broadcasts []int
	published  int
}

func (o *recordingObserver) ConnectRefused(string) {}
func (o *recordingObserver) EventReceived(string)  {}
func (o *recordingObserver) EventsSent(event string, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent[event] += n
}
func (o *recordingObserver) Broadcast(recipients int, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.broadcasts = append(o.broadcasts, recipients)
}
func (o *recordingObserver) BrokerPublished(time.Duration, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.published++
}
func (o *recordingObserver) RecoveryAttempted() {}
func (o *recordingObserver) RecoverySucceeded() {}

func TestObserverCountsABroadcastOnce(t *testing.T) {
	obs := &recordingObserver{sent: map[string]int{}}
	s := NewServer(Config{Observer: obs})
	defer s.Shutdown(t.Context())
	connectN(t, s, 50, "r")
	if err := s.Of("/").To("r").Emit("news", 1); err != nil {
		t.Fatal(err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.sent["news"] != 50 || len(obs.broadcasts) != 1 || obs.broadcasts[0] != 50 || obs.published != 1 {
		t.Fatalf("sent %v, broadcasts %v, published %d", obs.sent, obs.broadcasts, obs.published)
	}
	if got := s.NamespaceCounts(); len(got) != 1 || got[0] != (NamespaceCount{Namespace: "/", Sockets: 50, Rooms: 1}) {
		t.Fatalf("NamespaceCounts %+v", got)
	}
}

func TestEventNameOfARemotePacket(t *testing.T) {
	for text, want := range map[string]string{
		`2["availabilityUpdated",{"seq":1}]`: "availabilityUpdated",
		`2/admin,17["x"]`:                    "x",
		`451-["file",{"_placeholder":true}]`: "file",
		`2["a\"b",1]`:                        "", // escaped: not read
		`2[1,2]`:                             "",
	} {
		if got := NewPacket(PacketEvent, "/", []byte(text), nil).eventName(); got != want {
			t.Errorf("%s: %q, want %q", text, got, want)
		}
	}
}
