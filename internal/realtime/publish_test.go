package realtime_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/auth"
	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/realtime"
	"github.com/eventide/realtime/internal/socketio"
	"github.com/eventide/realtime/internal/socketio/siotest"
)

// downBroker fails every Publish while down is set, as a Redis broker does
// while Redis is unreachable.
type downBroker struct {
	socketio.Broker
	down atomic.Bool
}

var errRedisDown = errors.New("redis: connection refused")

func (b *downBroker) Publish(ctx context.Context, bc *socketio.Broadcast) (string, error) {
	if b.down.Load() {
		return "", errRedisDown
	}
	return b.Broker.Publish(ctx, bc)
}

func change(provider string, seq int64) availability.Change {
	return availability.Change{Action: availability.ActionUpdated, ProviderID: provider, Seq: seq,
		Slot: availability.Slot{ID: seq, ProviderID: provider}}
}

// seqsUntilMarker returns the seqs of the availabilityUpdated events c gets
// before "marker", which is sent (to every socket) after the events under
// test.
func seqsUntilMarker(t *testing.T, g *gateway, c *siotest.Client) []int64 {
	t.Helper()
	if err := g.service.EmitToAll("marker", nil); err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for {
		name, args := c.NextEvent()
		if name == "marker" {
			return seqs
		}
		if name != realtime.EventAvailabilityUpdated {
			t.Fatalf("got %s", name)
		}
		seqs = append(seqs, int64(args[0].(map[string]any)["seq"].(float64)))
	}
}

func TestPublishReturnsTheBrokersErrorAndDeliversOnceOnRetry(t *testing.T) {
	broker := &downBroker{Broker: socketio.NewMemoryBroker()}
	t.Cleanup(func() { broker.Close() })
	g := startGateway(t, gatewayOptions{broker: broker})
	c := g.connect(g.token(auth.Claims{Role: auth.RoleAdmin}, time.Hour))
	if name, _, _ := request(t, c, realtime.EventJoinRoom, "provider-42"); name != realtime.EventJoinedRoom {
		t.Fatalf("join: %s", name)
	}

	broker.down.Store(true)
	if err := g.service.Publish(t.Context(), change("42", 1)); !errors.Is(err, errRedisDown) {
		t.Fatalf("Publish = %v, want the broker's error (the relay keeps the change)", err)
	}
	broker.down.Store(false)
	// The relay's next rounds: the change again (delivered now), then once
	// more (a crash before the mark), then the next one.
	for _, seq := range []int64{1, 1, 2} {
		if err := g.service.Publish(t.Context(), change("42", seq)); err != nil {
			t.Fatal(err)
		}
	}
	if got := seqsUntilMarker(t, g, c); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("seqs %v, want [1 2]", got)
	}
}

// watch42 connects a client to g, in the room of provider 42.
func watch42(t *testing.T, g *gateway) *siotest.Client {
	t.Helper()
	c := g.connect(g.token(auth.Claims{Role: auth.RoleClient, Providers: []string{"42"}}, time.Hour))
	if name, _, _ := request(t, c, realtime.EventJoinRoom, "provider-42"); name != realtime.EventJoinedRoom {
		t.Fatalf("join: %s", name)
	}
	return c
}

func TestPublishReachesEveryNodeOnce(t *testing.T) {
	cluster := socketio.NewMemoryCluster()
	ba, bb := cluster.NewBroker(), cluster.NewBroker()
	t.Cleanup(func() { ba.Close(); bb.Close() })
	a := startGateway(t, gatewayOptions{broker: ba})
	b := startGateway(t, gatewayOptions{broker: bb})
	ca, cb := watch42(t, a), watch42(t, b)
	// Node A relays, then node B takes over and publishes seq 2 again.
	for _, p := range []struct {
		g   *gateway
		seq int64
	}{{a, 1}, {a, 2}, {b, 2}, {b, 3}} {
		if err := p.g.service.Publish(t.Context(), change("42", p.seq)); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []struct {
		g *gateway
		c *siotest.Client
	}{{a, ca}, {b, cb}} {
		if got := seqsUntilMarker(t, n.g, n.c); len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 3 {
			t.Fatalf("seqs %v, want [1 2 3]", got)
		}
	}
}

// lossyBroker hands nothing to the other nodes while lose is set, yet
// tells the publisher it did, as Redis pub/sub does with what is published
// while another node subscribes again.
type lossyBroker struct {
	socketio.Broker
	lose atomic.Bool
}

func (b *lossyBroker) Publish(ctx context.Context, bc *socketio.Broadcast) (string, error) {
	if b.lose.Load() {
		return "", nil
	}
	return b.Broker.Publish(ctx, bc)
}

// changeLog is an event log of committed changes (the store's Events).
type changeLog struct {
	changes []availability.Change
	err     error
}

func (l *changeLog) Events(_ context.Context, provider string, after int64, limit int) ([]availability.Change, int64, error) {
	var out []availability.Change
	var seq int64
	for _, c := range l.changes {
		if c.ProviderID != provider {
			continue
		}
		seq = c.Seq
		if c.Seq > after && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, seq, l.err
}

func TestChangesLostByTheBrokerAreFilledFromTheLog(t *testing.T) {
	cluster := socketio.NewMemoryCluster()
	ba := &lossyBroker{Broker: cluster.NewBroker()}
	bb := cluster.NewBroker()
	t.Cleanup(func() { ba.Close(); bb.Close() })
	log := &changeLog{}
	a := startGateway(t, gatewayOptions{broker: ba})
	b := startGateway(t, gatewayOptions{broker: bb, tune: func(c *realtime.Config) { c.Changes = log }})
	ca, cb := watch42(t, a), watch42(t, b)
	publish := func(seq int64, lost bool) {
		t.Helper()
		c := change("42", seq)
		log.changes = append(log.changes, c) // committed first, as the relay reads it
		ba.lose.Store(lost)
		if err := a.service.Publish(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	publish(1, false)
	publish(2, true)
	publish(3, true)
	publish(4, false)
	for _, n := range []struct {
		g *gateway
		c *siotest.Client
	}{{a, ca}, {a, cb}} { // a's marker: behind 4 on the way to b
		if got := seqsUntilMarker(t, n.g, n.c); len(got) != 4 || got[0] != 1 || got[1] != 2 || got[2] != 3 || got[3] != 4 {
			t.Fatalf("seqs %v, want [1 2 3 4]", got)
		}
	}
	if name, _ := cb.NextEvent(); name != "marker" { // the second marker went to every socket
		t.Fatalf("got %s, want the second marker", name)
	}

	// The log cannot answer: what was lost stays lost, the rest goes on.
	log.err = errors.New("database unreachable")
	publish(5, true)
	publish(6, false)
	// The marker from a, behind 6 on the way to b.
	if got := seqsUntilMarker(t, a, cb); len(got) != 1 || got[0] != 6 {
		t.Fatalf("seqs %v, want [6]", got)
	}
}
