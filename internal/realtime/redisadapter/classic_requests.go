package redisadapter

import (
	"context"
	"fmt"
	"time"

	"github.com/eventide/realtime/internal/socketio"
)

// This node's requests to the other nodes of a classic cluster
// (socketio.Cluster): serverCount, allRooms, fetchSockets, socketsJoin and
// socketsLeave, disconnectSockets, serverSideEmit, broadcasts with acks.

// ServerCount implements socketio.Cluster: the subscribers of the main
// namespace's request channel, as Node counts them.
func (c *Classic) ServerCount(ctx context.Context) (int, error) {
	return c.serverCount(ctx, "/")
}

func (c *Classic) serverCount(ctx context.Context, nsp string) (int, error) {
	if err := c.usable(); err != nil {
		return 0, err
	}
	ch := c.channels(nsp)
	res, err := c.rdb.PubSubNumSub(ctx, ch.request).Result()
	if err != nil {
		return 0, fmt.Errorf("redisadapter: serverCount: %w", err)
	}
	return int(res[ch.request]), nil
}

// ask publishes a request with a new request id and collects want
// responses, one per other node.
func (c *Classic) ask(ctx context.Context, nsp string, build func(id string) any) ([]*classicRequest, error) {
	ctx, cancel := withTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	count, err := c.serverCount(ctx, nsp)
	if err != nil {
		return nil, err
	}
	want := count - 1
	if want <= 0 {
		return nil, nil
	}
	id := newUID(3)
	ch := make(chan *classicRequest, want)
	c.pending.add(id, func(resp any) {
		select {
		case ch <- resp.(*classicRequest):
		default:
		}
	})
	defer c.pending.remove(id)
	payload, err := marshalJSON(build(id))
	if err != nil {
		return nil, err
	}
	if err := c.rdb.Publish(ctx, c.channels(nsp).request, payload).Err(); err != nil {
		return nil, fmt.Errorf("redisadapter: request: %w", err)
	}
	got, err := collect(ctx, c.closed, ch, want)
	if err != nil {
		return got, fmt.Errorf("redisadapter: %d of %d nodes answered: %w", len(got), want, err)
	}
	return got, nil
}

// AllRooms implements socketio.Cluster.
func (c *Classic) AllRooms(ctx context.Context, nsp string) ([]string, error) {
	resps, err := c.ask(ctx, nsp, func(id string) any {
		return allRoomsRequest{UID: c.uid, RequestID: id, Type: reqAllRooms}
	})
	var rooms []string
	for _, r := range resps {
		rooms = append(rooms, r.AllRooms...)
	}
	return rooms, err
}

// FetchSockets implements socketio.Cluster.
func (c *Classic) FetchSockets(ctx context.Context, nsp string, sel socketio.Selector) ([]socketio.SocketInfo, error) {
	resps, err := c.ask(ctx, nsp, func(id string) any {
		return fetchRequest{UID: c.uid, RequestID: id, Type: reqRemoteFetch, Opts: wireOpts{Rooms: nonNilStrings(sel.Rooms), Except: nonNilStrings(sel.Except)}}
	})
	var out []socketio.SocketInfo
	for _, r := range resps {
		for _, s := range r.Sockets {
			si, serr := fromNodeSocket(s)
			if serr == nil {
				out = append(out, si)
			}
		}
	}
	return out, err
}

func (c *Classic) publishRequest(ctx context.Context, nsp string, v any) error {
	if err := c.usable(); err != nil {
		return err
	}
	payload, err := marshalJSON(v)
	if err != nil {
		return err
	}
	if err := c.rdb.Publish(ctx, c.channels(nsp).request, payload).Err(); err != nil {
		return fmt.Errorf("redisadapter: request: %w", err)
	}
	return nil
}

// AddSockets implements socketio.Cluster.
func (c *Classic) AddSockets(ctx context.Context, nsp string, sel socketio.Selector, rooms []string) error {
	return c.publishRequest(ctx, nsp, joinRequest{UID: c.uid, Type: reqRemoteJoin,
		Opts: wireOpts{Rooms: nonNilStrings(sel.Rooms), Except: nonNilStrings(sel.Except)}, Rooms: nonNilStrings(rooms)})
}

// DelSockets implements socketio.Cluster.
func (c *Classic) DelSockets(ctx context.Context, nsp string, sel socketio.Selector, rooms []string) error {
	return c.publishRequest(ctx, nsp, joinRequest{UID: c.uid, Type: reqRemoteLeave,
		Opts: wireOpts{Rooms: nonNilStrings(sel.Rooms), Except: nonNilStrings(sel.Except)}, Rooms: nonNilStrings(rooms)})
}

// DisconnectSockets implements socketio.Cluster.
func (c *Classic) DisconnectSockets(ctx context.Context, nsp string, sel socketio.Selector, close bool) error {
	return c.publishRequest(ctx, nsp, disconnectRequest{UID: c.uid, Type: reqRemoteDisconnect,
		Opts: wireOpts{Rooms: nonNilStrings(sel.Rooms), Except: nonNilStrings(sel.Except)}, Close: close})
}

// ServerSideEmit implements socketio.Cluster.
func (c *Classic) ServerSideEmit(ctx context.Context, nsp, event string, args []any, withAck bool) ([]any, error) {
	data := append([]any{event}, args...)
	if !withAck {
		return nil, c.publishRequest(ctx, nsp, serverSideEmitRequest{UID: c.uid, Type: reqServerSideEmit, Data: data})
	}
	resps, err := c.ask(ctx, nsp, func(id string) any {
		return serverSideEmitRequest{UID: c.uid, RequestID: id, Type: reqServerSideEmit, Data: data}
	})
	out := make([]any, 0, len(resps))
	for _, r := range resps {
		out = append(out, r.Data)
	}
	return out, err
}

// BroadcastWithAck implements socketio.Cluster.
func (c *Classic) BroadcastWithAck(ctx context.Context, b *socketio.Broadcast, onCount func(n int), onAck func(args []any)) error {
	if err := c.usable(); err != nil {
		return err
	}
	ctx, cancel := withTimeout(ctx, c.cfg.RequestTimeout)
	count, err := c.serverCount(ctx, b.Namespace)
	if err != nil {
		cancel()
		return err
	}
	want := count - 1
	if want <= 0 {
		cancel()
		return nil
	}
	deadline, _ := ctx.Deadline()
	id := newUID(3)
	counted := make(chan struct{}, want)
	c.pending.add(id, func(resp any) {
		r := resp.(*classicRequest)
		switch r.Type {
		case reqBroadcastClientCount:
			if r.ClientCount != nil {
				onCount(*r.ClientCount)
				select {
				case counted <- struct{}{}:
				default:
				}
			}
		case reqBroadcastAck:
			onAck([]any{r.Reply})
		}
	})
	// Acks keep coming until ctx ends.
	context.AfterFunc(ctx, func() { c.pending.remove(id) })
	payload, err := encodeBroadcastRequest(c.uid, id, b, max(time.Until(deadline).Milliseconds(), 1))
	if err == nil {
		err = c.rdb.Publish(ctx, c.channels(b.Namespace).request, payload).Err()
	}
	if err != nil {
		cancel()
		return fmt.Errorf("redisadapter: broadcast with acks: %w", err)
	}
	go func() { <-ctx.Done(); cancel() }()
	for i := 0; i < want; i++ {
		select {
		case <-counted:
		case <-ctx.Done():
			return fmt.Errorf("redisadapter: %d of %d nodes counted their clients: %w", i, want, ctx.Err())
		case <-c.closed:
			return errClosed
		}
	}
	return nil
}
