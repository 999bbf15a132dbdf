package redisadapter

import (
	"context"
	"fmt"
	"time"

	"github.com/eventide/realtime/internal/socketio"
)

// This node's requests to the other nodes of a streams cluster
// (socketio.Cluster).

// ServerCount implements socketio.Cluster: the subscribers of the main
// namespace's public channel, as Node counts them.
func (s *Streams) ServerCount(ctx context.Context) (int, error) { return s.serverCount(ctx, "/") }

func (s *Streams) serverCount(ctx context.Context, nsp string) (int, error) {
	if err := s.usable(); err != nil {
		return 0, err
	}
	ch := s.channels(nsp).public
	res, err := s.rdb.PubSubNumSub(ctx, ch).Result()
	if err != nil {
		return 0, fmt.Errorf("redisadapter: serverCount: %w", err)
	}
	return int(res[ch]), nil
}

// publishMessage publishes a request on the namespace's public channel.
func (s *Streams) publishMessage(ctx context.Context, nsp string, typ int, fields ...field) error {
	payload, err := encodeClusterMessage(typ, s.uid, nsp, writeFields(fields...))
	if err != nil {
		return err
	}
	if err := s.rdb.Publish(ctx, s.channels(nsp).public, payload).Err(); err != nil {
		return fmt.Errorf("redisadapter: publish: %w", err)
	}
	return nil
}

// ask publishes a request and collects one answer per other node.
func (s *Streams) ask(ctx context.Context, nsp string, typ int, build func(id string) []field) ([]*clusterMessage, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	ctx, cancel := withTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	count, err := s.serverCount(ctx, nsp)
	if err != nil {
		return nil, err
	}
	want := count - 1
	if want <= 0 {
		return nil, nil
	}
	id := newUID(8)
	ch := make(chan *clusterMessage, want)
	s.pending.add(id, func(resp any) {
		select {
		case ch <- resp.(*clusterMessage):
		default:
		}
	})
	defer s.pending.remove(id)
	if err := s.publishMessage(ctx, nsp, typ, build(id)...); err != nil {
		return nil, err
	}
	got, err := collect(ctx, s.closed, ch, want)
	if err != nil {
		return got, fmt.Errorf("redisadapter: %d of %d nodes answered: %w", len(got), want, err)
	}
	return got, nil
}

// FetchSockets implements socketio.Cluster.
func (s *Streams) FetchSockets(ctx context.Context, nsp string, sel socketio.Selector) ([]socketio.SocketInfo, error) {
	resps, err := s.ask(ctx, nsp, msgFetchSockets, func(id string) []field {
		return []field{{"opts", wireOpts{Rooms: nonNilStrings(sel.Rooms), Except: nonNilStrings(sel.Except)}}, {"requestId", id}}
	})
	var out []socketio.SocketInfo
	for _, r := range resps {
		for _, v := range r.Sockets {
			if si, serr := fromNodeSocket(v); serr == nil {
				out = append(out, si)
			}
		}
	}
	return out, err
}

// AllRooms implements socketio.Cluster. The streams format has no request
// for it (Node's streams adapter answers with its own rooms only); the
// other nodes' rooms are those of their sockets.
func (s *Streams) AllRooms(ctx context.Context, nsp string) ([]string, error) {
	infos, err := s.FetchSockets(ctx, nsp, socketio.Selector{})
	seen := make(map[string]struct{})
	var rooms []string
	for _, si := range infos {
		for _, r := range si.Rooms {
			if _, dup := seen[r]; !dup {
				seen[r] = struct{}{}
				rooms = append(rooms, r)
			}
		}
	}
	return rooms, err
}

// AddSockets implements socketio.Cluster (an entry of the stream, as Node).
func (s *Streams) AddSockets(ctx context.Context, nsp string, sel socketio.Selector, rooms []string) error {
	if err := s.usable(); err != nil {
		return err
	}
	_, err := s.xadd(ctx, roomsEntry(s.uid, nsp, msgSocketsJoin, sel, rooms))
	return err
}

// DelSockets implements socketio.Cluster.
func (s *Streams) DelSockets(ctx context.Context, nsp string, sel socketio.Selector, rooms []string) error {
	if err := s.usable(); err != nil {
		return err
	}
	_, err := s.xadd(ctx, roomsEntry(s.uid, nsp, msgSocketsLeave, sel, rooms))
	return err
}

// DisconnectSockets implements socketio.Cluster.
func (s *Streams) DisconnectSockets(ctx context.Context, nsp string, sel socketio.Selector, close bool) error {
	if err := s.usable(); err != nil {
		return err
	}
	_, err := s.xadd(ctx, disconnectEntry(s.uid, nsp, sel, close))
	return err
}

// ServerSideEmit implements socketio.Cluster.
func (s *Streams) ServerSideEmit(ctx context.Context, nsp, event string, args []any, withAck bool) ([]any, error) {
	packet := append([]any{event}, args...)
	if !withAck {
		if err := s.usable(); err != nil {
			return nil, err
		}
		return nil, s.publishMessage(ctx, nsp, msgServerSideEmit, field{"packet", packet})
	}
	resps, err := s.ask(ctx, nsp, msgServerSideEmit, func(id string) []field {
		return []field{{"requestId", id}, {"packet", packet}}
	})
	out := make([]any, 0, len(resps))
	for _, r := range resps {
		out = append(out, r.Reply)
	}
	return out, err
}

// BroadcastWithAck implements socketio.Cluster.
func (s *Streams) BroadcastWithAck(ctx context.Context, b *socketio.Broadcast, onCount func(n int), onAck func(args []any)) error {
	if err := s.usable(); err != nil {
		return err
	}
	ctx, cancel := withTimeout(ctx, s.cfg.RequestTimeout)
	count, err := s.serverCount(ctx, b.Namespace)
	if err != nil || count <= 1 {
		cancel()
		return err
	}
	want := count - 1
	deadline, _ := ctx.Deadline()
	id := newUID(8)
	counted := make(chan struct{}, want)
	s.pending.add(id, func(resp any) {
		m := resp.(*clusterMessage)
		switch m.Type {
		case msgBroadcastClientCount:
			onCount(m.ClientCount)
			select {
			case counted <- struct{}{}:
			default:
			}
		case msgBroadcastAck:
			onAck([]any{m.Reply})
		}
	})
	context.AfterFunc(ctx, func() { s.pending.remove(id) })
	go func() { <-ctx.Done(); cancel() }()
	o := optsOf(b)
	o.Timeout = max(time.Until(deadline).Milliseconds(), 1)
	if err := s.publishMessage(ctx, b.Namespace, msgBroadcast, field{"packet", b.Packet}, field{"requestId", id}, field{"opts", o}); err != nil {
		cancel()
		return err
	}
	for i := 0; i < want; i++ {
		select {
		case <-counted:
		case <-ctx.Done():
			return fmt.Errorf("redisadapter: %d of %d nodes counted their clients: %w", i, want, ctx.Err())
		case <-s.closed:
			return errClosed
		}
	}
	return nil
}
