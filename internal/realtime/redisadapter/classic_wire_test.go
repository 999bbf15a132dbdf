package redisadapter

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/eventide/realtime/internal/socketio"
)

// TestClassicBroadcastGolden: every broadcast Node's redis-adapter
// published decodes into the packet Node's own encoder sends its clients,
// to the same rooms; and eventide encodes that broadcast into the very
// bytes Node published.
func TestClassicBroadcastGolden(t *testing.T) {
	f := loadFixture(t, "classic.json")
	seen := 0
	for _, c := range f.Cases {
		for i, want := range c.socketio(t) {
			if want == nil || strings.HasPrefix(c.Name, "broadcast with ack") {
				continue
			}
			seen++
			cmd := c.Commands[i]
			channel, payload := str(cmd[1]), []byte(cmd[2])
			t.Run(c.Name, func(t *testing.T) {
				uid, b, err := decodeClassicBroadcast(payload)
				if err != nil {
					t.Fatal(err)
				}
				// Each namespace's adapter has a uid of its own.
				if b.Namespace == "/" && uid != f.Servers.A {
					t.Errorf("uid %q, want %q", uid, f.Servers.A)
				}
				if got, _ := classicUID(payload); got != uid {
					t.Errorf("classicUID %q, want %q", got, uid)
				}
				checkPacket(t, b.Packet, want)
				dec := c.Decoded[i].(map[string]any)["msgpack"].([]any)
				opts := dec[2].(map[string]any)
				if !slices.Equal(b.Rooms, roomsOf(opts["rooms"])) || !slices.Equal(b.Except, roomsOf(opts["except"])) {
					t.Errorf("rooms %q except %q, want %v %v", b.Rooms, b.Except, opts["rooms"], opts["except"])
				}
				flags := opts["flags"].(map[string]any)
				if b.Flags.Volatile != (flags["volatile"] == true) {
					t.Errorf("volatile %v, want flags %v", b.Flags.Volatile, flags)
				}
				if got := newClassicChannels(f.Key, b.Namespace, uid).channelFor(b.Rooms); got != channel {
					t.Errorf("channel %q, want %q", got, channel)
				}
				// Eventide's flags are volatile only; Node's compress
				// flag has no counterpart.
				if _, compress := flags["compress"]; compress {
					return
				}
				out, err := encodeClassicBroadcast(uid, b)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out, payload) {
					t.Errorf("encoded\n%x\nwant (Node)\n%x", out, payload)
				}
			})
		}
	}
	if seen < 6 {
		t.Fatalf("only %d broadcasts in the fixture", seen)
	}
}

// TestEmitterGolden: the emitter's broadcasts (uid "emitter", its own key
// order) decode like the adapter's.
func TestEmitterGolden(t *testing.T) {
	f := loadFixture(t, "emitter.json")
	seen := 0
	for _, c := range f.Cases {
		for i, want := range c.socketio(t) {
			if want == nil {
				continue
			}
			seen++
			t.Run(c.Name, func(t *testing.T) {
				cmd := c.Commands[i]
				uid, b, err := decodeClassicBroadcast([]byte(cmd[2]))
				if err != nil {
					t.Fatal(err)
				}
				if uid != emitterUID {
					t.Errorf("uid %q", uid)
				}
				checkPacket(t, b.Packet, want)
				if got := newClassicChannels(f.Key, b.Namespace, "x").channelFor(b.Rooms); got != str(cmd[1]) {
					t.Errorf("channel %q, want %q", got, str(cmd[1]))
				}
			})
		}
	}
	if seen < 4 {
		t.Fatalf("only %d emitter broadcasts", seen)
	}

	// Its requests have no uid and no requestId.
	join := decodeRequest(t, f.find(t, "emitter: socketsJoin"), 0)
	if join.Type != reqRemoteJoin || join.UID != "" || join.RequestID != "" || join.Opts == nil ||
		!slices.Equal(join.Opts.Rooms, []string{"provider-42"}) || !slices.Equal([]string(join.Rooms), []string{"room-z"}) {
		t.Errorf("socketsJoin %+v", join)
	}
	leave := decodeRequest(t, f.find(t, "emitter: socketsLeave"), 0)
	if leave.Type != reqRemoteLeave || !slices.Equal(leave.Opts.Except, []string{"provider-7"}) {
		t.Errorf("socketsLeave %+v", leave)
	}
	disc := decodeRequest(t, f.find(t, "emitter: disconnectSockets"), 0)
	if disc.Type != reqRemoteDisconnect || disc.Close == nil || !*disc.Close {
		t.Errorf("disconnectSockets %+v", disc)
	}
	sse := decodeRequest(t, f.find(t, "emitter: serverSideEmit"), 0)
	if sse.Type != reqServerSideEmit || sse.UID != emitterUID || sse.RequestID != "" ||
		!reflect.DeepEqual(sse.Data, []any{"hello", 1.0}) {
		t.Errorf("serverSideEmit %+v", sse)
	}
}

func checkPacket(t *testing.T, p *socketio.Packet, want *clientPacket) {
	t.Helper()
	if string(p.Text) != want.Text {
		t.Errorf("text\n%s\nwant (Node's encoder)\n%s", p.Text, want.Text)
	}
	wantAtt := want.attachments(t)
	if len(p.Attachments) != len(wantAtt) {
		t.Fatalf("%d attachments, want %d", len(p.Attachments), len(wantAtt))
	}
	for i := range wantAtt {
		if !bytes.Equal(p.Attachments[i], wantAtt[i]) {
			t.Errorf("attachment %d = %x, want %x", i, p.Attachments[i], wantAtt[i])
		}
	}
	wantType := socketio.PacketEvent
	if len(wantAtt) > 0 {
		wantType = socketio.PacketBinaryEvent
	}
	if p.Type != wantType {
		t.Errorf("type %v, want %v", p.Type, wantType)
	}
}

func decodeRequest(t *testing.T, c fixtureCase, i int) *classicRequest {
	t.Helper()
	r, err := decodeClassicRequest([]byte(c.Commands[i][2]), "/")
	if err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	return r
}

// TestClassicRequestsGolden: eventide reads Node's requests and responses,
// and writes its own with the bytes Node writes.
func TestClassicRequestsGolden(t *testing.T) {
	f := loadFixture(t, "classic.json")
	uid := f.Servers.A
	ch := newClassicChannels(f.Key, "/", uid)

	sub := f.find(t, "subscriptions of one server")
	if got := str(sub.Commands[0][1]); got != ch.broadcast+"*" {
		t.Errorf("pattern %q, want %q", got, ch.broadcast+"*")
	}
	if got := []string{str(sub.Commands[1][1]), str(sub.Commands[1][2]), str(sub.Commands[1][3])}; !slices.Equal(got, []string{ch.request, ch.response, ch.specific}) {
		t.Errorf("channels %q, want %q", got, []string{ch.request, ch.response, ch.specific})
	}
	count := f.find(t, "serverCount")
	if c := count.Commands[0]; str(c[0]) != "PUBSUB" || str(c[1]) != "NUMSUB" || str(c[2]) != ch.request {
		t.Errorf("serverCount command %q", c)
	}

	same := func(name string, got any, want fixtureArg) {
		t.Helper()
		b, err := marshalJSON(got)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != string(want) {
			t.Errorf("%s:\n%s\nwant (Node)\n%s", name, b, want)
		}
	}

	fetch := f.find(t, "fetchSockets request and response")
	req := decodeRequest(t, fetch, 0)
	if req.Type != reqRemoteFetch || req.UID != uid || req.RequestID == "" || !slices.Equal(req.Opts.Rooms, []string{"provider-42"}) {
		t.Errorf("fetch request %+v", req)
	}
	same("fetch request", fetchRequest{UID: uid, RequestID: req.RequestID, Type: reqRemoteFetch, Opts: wireOpts{Rooms: []string{"provider-42"}, Except: []string{}}}, fetch.Commands[0][2])
	if str(fetch.Commands[1][1]) != ch.response {
		t.Errorf("response channel %q", fetch.Commands[1][1])
	}
	resp := decodeRequest(t, fetch, 1)
	if resp.RequestID != req.RequestID || len(resp.Sockets) != 1 {
		t.Fatalf("fetch response %+v", resp)
	}
	si, err := fromNodeSocket(resp.Sockets[0])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(si.Rooms, "provider-7") || si.ID == "" || si.Handshake.Query.Get("EIO") != "4" ||
		si.Handshake.Header.Get("Upgrade") != "websocket" || si.Handshake.Address != "127.0.0.1" || si.Handshake.Time.IsZero() {
		t.Errorf("socket %+v", si)
	}
	// Ours, read back as Node reads it: the same object but for the time's
	// zone name.
	mine, err := marshalJSON(fetchResponse{RequestID: req.RequestID, Sockets: []nodeSocket{toNodeSocket(si)}})
	if err != nil {
		t.Fatal(err)
	}
	var gotV, wantV map[string]any
	_ = json.Unmarshal(mine, &gotV)
	_ = json.Unmarshal(fetch.Commands[1][2], &wantV)
	for _, m := range []map[string]any{gotV, wantV} {
		m["sockets"].([]any)[0].(map[string]any)["handshake"].(map[string]any)["time"] = "-"
	}
	if !reflect.DeepEqual(gotV, wantV) {
		t.Errorf("fetch response\n%v\nwant (Node)\n%v", gotV, wantV)
	}

	rooms := f.find(t, "allRooms request and response")
	rreq := decodeRequest(t, rooms, 0)
	same("allRooms request", allRoomsRequest{UID: uid, RequestID: rreq.RequestID, Type: reqAllRooms}, rooms.Commands[0][2])
	rresp := decodeRequest(t, rooms, 1)
	same("allRooms response", allRoomsResponse{RequestID: rreq.RequestID, Rooms: rresp.AllRooms}, rooms.Commands[1][2])

	join := f.find(t, "socketsJoin")
	same("socketsJoin", joinRequest{UID: uid, Type: reqRemoteJoin, Opts: wireOpts{Rooms: []string{"provider-42"}, Except: []string{}}, Rooms: []string{"room-x", "room-y"}}, join.Commands[0][2])
	leave := f.find(t, "socketsLeave")
	same("socketsLeave", joinRequest{UID: uid, Type: reqRemoteLeave, Opts: wireOpts{Rooms: []string{"provider-42"}, Except: []string{"provider-7"}}, Rooms: []string{"room-x"}}, leave.Commands[0][2])
	disc := f.find(t, "disconnectSockets")
	same("disconnectSockets", disconnectRequest{UID: uid, Type: reqRemoteDisconnect, Opts: wireOpts{Rooms: []string{"room-y"}, Except: []string{}}}, disc.Commands[0][2])

	sse := f.find(t, "serverSideEmit without ack")
	same("serverSideEmit", serverSideEmitRequest{UID: uid, Type: reqServerSideEmit, Data: []any{"hello", map[string]any{"a": 1}, "two"}}, sse.Commands[0][2])
	sseAck := f.find(t, "serverSideEmit with ack, request and response")
	ackReq := decodeRequest(t, sseAck, 0)
	same("serverSideEmit with ack", serverSideEmitRequest{UID: uid, RequestID: ackReq.RequestID, Type: reqServerSideEmit, Data: []any{"ping", "p"}}, sseAck.Commands[0][2])
	same("serverSideEmit response", serverSideEmitResponse{Type: reqServerSideEmit, RequestID: ackReq.RequestID, Data: map[string]any{"pong": true}}, sseAck.Commands[1][2])

	bca := f.find(t, "broadcast with ack: request, client count, acks")
	breq := decodeRequest(t, bca, 0)
	if breq.Type != reqBroadcast || breq.Packet == nil || breq.Opts == nil || breq.Opts.Timeout != 5000 {
		t.Fatalf("broadcast request %+v", breq)
	}
	checkPacket(t, breq.Packet, bca.socketio(t)[0])
	out, err := encodeBroadcastRequest(uid, breq.RequestID, broadcastOf(breq.Packet, *breq.Opts), 5000)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, bca.Commands[0][2]) {
		t.Errorf("broadcast request\n%x\nwant (Node)\n%x", out, []byte(bca.Commands[0][2]))
	}
	cnt := decodeRequest(t, bca, 1)
	if cnt.Type != reqBroadcastClientCount || cnt.ClientCount == nil || *cnt.ClientCount != 1 {
		t.Errorf("client count %+v", cnt)
	}
	same("client count", clientCountResponse{Type: reqBroadcastClientCount, RequestID: breq.RequestID, ClientCount: 1}, bca.Commands[1][2])
	ack := decodeRequest(t, bca, 2)
	want := map[string]any{"ok": true, "got": 2.0}
	if ack.Type != reqBroadcastAck || !reflect.DeepEqual(ack.Reply, want) {
		t.Errorf("ack %+v", ack)
	}
	mineAck, err := encodeBroadcastAck(breq.RequestID, want)
	if err != nil {
		t.Fatal(err)
	}
	back := decodeRequestBytes(t, mineAck)
	if back.Type != reqBroadcastAck || back.RequestID != breq.RequestID || !reflect.DeepEqual(back.Reply, want) {
		t.Errorf("our ack reads back as %+v", back)
	}
}

func decodeRequestBytes(t *testing.T, b []byte) *classicRequest {
	t.Helper()
	r, err := decodeClassicRequest(b, "/")
	if err != nil {
		t.Fatal(err)
	}
	return r
}
