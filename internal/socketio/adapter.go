package socketio

import (
	"slices"
	"sync"
)

// BroadcastOptions selects the recipients of a broadcast: the sockets in any
// of Rooms (every socket of the namespace when empty), minus the sockets in
// any of Except. Each recipient gets the packet once.
type BroadcastOptions struct {
	Rooms  []string
	Except []string
}

// Adapter keeps a namespace's rooms and delivers broadcasts. It deals in
// socket ids, room names and encoded packets only, so an implementation
// spanning processes (Redis) can replace the in-memory one without touching
// callers: it would publish the Packet's Text and Attachments and call the
// local MemoryAdapter on every node.
type Adapter interface {
	// AddAll adds socket id to rooms.
	AddAll(id string, rooms []string)
	// Del removes socket id from room.
	Del(id, room string)
	// DelAll removes socket id from every room.
	DelAll(id string)
	// Broadcast sends p to the sockets selected by opts.
	Broadcast(p *Packet, opts BroadcastOptions)
	// Sockets returns the ids of the sockets in any of rooms (all if empty).
	Sockets(rooms []string) []string
	// SocketRooms returns the rooms socket id is in.
	SocketRooms(id string) []string
	// Rooms returns every room with at least one socket.
	Rooms() []string
	// Close releases the adapter's resources.
	Close() error
}

var _ Adapter = (*MemoryAdapter)(nil)

// MemoryAdapter is the default, in-process Adapter.
//
// The room named by a socket's id is implicit: it holds exactly that socket
// while it is connected to the namespace, and costs no map. A socket cannot
// leave it.
type MemoryAdapter struct {
	nsp *Namespace

	// Lock order: mu, then nsp.mu.
	mu    sync.RWMutex
	rooms map[string]map[string]struct{} // joined room -> socket ids
	sids  map[string][]string            // socket id -> joined rooms (own room excluded); a slice: sockets join few rooms
}

// NewMemoryAdapter returns the in-memory adapter of nsp.
func NewMemoryAdapter(nsp *Namespace) *MemoryAdapter {
	return &MemoryAdapter{
		nsp:   nsp,
		rooms: make(map[string]map[string]struct{}),
		sids:  make(map[string][]string),
	}
}

// AddAll implements Adapter.
func (a *MemoryAdapter) AddAll(id string, rooms []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range rooms {
		if r == id {
			continue // implicit
		}
		mine := a.sids[id]
		if slices.Contains(mine, r) {
			continue
		}
		if mine == nil {
			mine = make([]string, 0, len(rooms))
		}
		a.sids[id] = append(mine, r)
		set := a.rooms[r]
		if set == nil {
			set = make(map[string]struct{})
			a.rooms[r] = set
		}
		set[id] = struct{}{}
	}
}

// Del implements Adapter.
func (a *MemoryAdapter) Del(id, room string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if mine := a.sids[id]; mine != nil {
		if i := slices.Index(mine, room); i >= 0 {
			mine = slices.Delete(mine, i, i+1)
			if len(mine) == 0 {
				delete(a.sids, id)
			} else {
				a.sids[id] = mine
			}
		}
	}
	a.delFromRoom(id, room)
}

func (a *MemoryAdapter) delFromRoom(id, room string) {
	if set := a.rooms[room]; set != nil {
		delete(set, id)
		if len(set) == 0 {
			delete(a.rooms, room)
		}
	}
}

// DelAll implements Adapter.
func (a *MemoryAdapter) DelAll(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.sids[id] {
		a.delFromRoom(id, r)
	}
	delete(a.sids, id)
}

// eachMember calls fn with the socket of each member of room r, the joined
// ones and the one whose id is r. Needs a.mu and nsp.mu read-locked.
func (a *MemoryAdapter) eachMember(r string, fn func(id string, s *Socket)) {
	for id := range a.rooms[r] {
		if s := a.nsp.sockets[id]; s != nil {
			fn(id, s)
		}
	}
	if s := a.nsp.sockets[r]; s != nil {
		fn(r, s)
	}
}

// inAny reports whether socket id is in any of rooms. Needs a.mu read-locked.
func (a *MemoryAdapter) inAny(id string, rooms []string) bool {
	for _, r := range rooms {
		if r == id {
			return true
		}
		if _, ok := a.rooms[r][id]; ok {
			return true
		}
	}
	return false
}

// recipientPool holds slices of sockets, so a broadcast allocates nothing per
// recipient.
var recipientPool = sync.Pool{New: func() any { s := make([]*Socket, 0, 64); return &s }}

// Broadcast implements Adapter: it resolves the recipients under the locks,
// then sends outside them the same prepared Engine.IO messages to each.
func (a *MemoryAdapter) Broadcast(p *Packet, opts BroadcastOptions) {
	rp := recipientPool.Get().(*[]*Socket)
	list := (*rp)[:0]
	except := opts.Except
	a.mu.RLock()
	a.nsp.mu.RLock()
	switch len(opts.Rooms) {
	case 0:
		for id, s := range a.nsp.sockets {
			if len(except) == 0 || !a.inAny(id, except) {
				list = append(list, s)
			}
		}
	case 1:
		a.eachMember(opts.Rooms[0], func(id string, s *Socket) {
			if len(except) == 0 || !a.inAny(id, except) {
				list = append(list, s)
			}
		})
	default:
		seen := make(map[string]struct{})
		for _, r := range opts.Rooms {
			a.eachMember(r, func(id string, s *Socket) {
				if _, dup := seen[id]; dup {
					return
				}
				seen[id] = struct{}{}
				if len(except) == 0 || !a.inAny(id, except) {
					list = append(list, s)
				}
			})
		}
	}
	a.nsp.mu.RUnlock()
	a.mu.RUnlock()

	if len(list) > 0 {
		msgs := p.Messages()
		for _, s := range list {
			s.client.sendMessages(msgs)
		}
	}
	clear(list)
	*rp = list[:0]
	recipientPool.Put(rp)
}

// Sockets implements Adapter.
func (a *MemoryAdapter) Sockets(rooms []string) []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	a.nsp.mu.RLock()
	defer a.nsp.mu.RUnlock()
	var out []string
	if len(rooms) == 0 {
		for id := range a.nsp.sockets {
			out = append(out, id)
		}
		return out
	}
	seen := make(map[string]struct{})
	for _, r := range rooms {
		a.eachMember(r, func(id string, _ *Socket) {
			if _, dup := seen[id]; !dup {
				seen[id] = struct{}{}
				out = append(out, id)
			}
		})
	}
	return out
}

// SocketRooms implements Adapter; the socket's own room comes first.
func (a *MemoryAdapter) SocketRooms(id string) []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	a.nsp.mu.RLock()
	_, connected := a.nsp.sockets[id]
	a.nsp.mu.RUnlock()
	out := make([]string, 0, 1+len(a.sids[id]))
	if connected {
		out = append(out, id)
	}
	return append(out, a.sids[id]...)
}

// Rooms implements Adapter: joined rooms and the sockets' own rooms.
func (a *MemoryAdapter) Rooms() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	a.nsp.mu.RLock()
	defer a.nsp.mu.RUnlock()
	out := make([]string, 0, len(a.rooms)+len(a.nsp.sockets))
	for r := range a.rooms {
		out = append(out, r)
	}
	for id := range a.nsp.sockets {
		if _, dup := a.rooms[id]; !dup {
			out = append(out, id)
		}
	}
	return out
}

// Close implements Adapter.
func (a *MemoryAdapter) Close() error { return nil }
