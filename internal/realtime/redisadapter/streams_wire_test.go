package redisadapter

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/eventide/realtime/internal/socketio"
)

// TestStreamsEntriesGolden: the stream entries Node's streams adapter
// added decode into the packets Node's encoder sends clients, and eventide
// writes the very XADD Node sent for the same broadcast.
func TestStreamsEntriesGolden(t *testing.T) {
	f := loadFixture(t, "streams.json")
	uid := f.Servers.A
	for _, name := range []string{"text to one room", "binary to one room", "to every socket with except and flags"} {
		t.Run(name, func(t *testing.T) {
			c := f.find(t, name)
			m, err := decodeEntry(c.Entry.ID, c.Entry.Fields)
			if err != nil {
				t.Fatal(err)
			}
			if m.UID != uid || m.Nsp != "/" || m.Type != msgBroadcast || m.Offset != c.Entry.ID || m.Packet == nil {
				t.Fatalf("message %+v", m)
			}
			checkPacket(t, m.Packet, c.socketio(t)[0])
			data := c.Entry.DecodedData.(map[string]any)
			opts := data["opts"].(map[string]any)
			if !slices.Equal(m.Opts.Rooms, roomsOf(opts["rooms"])) || !slices.Equal(m.Opts.Except, roomsOf(opts["except"])) ||
				m.Opts.Volatile != (opts["flags"].(map[string]any)["volatile"] == true) {
				t.Errorf("opts %+v, want %v", m.Opts, opts)
			}
			e, err := broadcastEntry(uid, broadcastOf(m.Packet, m.Opts))
			if err != nil {
				t.Fatal(err)
			}
			checkCommand(t, xaddArgs(f.StreamName, 1000, e), c.Commands[0])
		})
	}
	for _, tc := range []struct {
		name  string
		typ   int
		rooms []string
	}{{"socketsJoin", msgSocketsJoin, []string{"room-x"}}, {"socketsLeave", msgSocketsLeave, []string{"room-x"}}} {
		c := f.find(t, tc.name)
		m, err := decodeEntry(c.Entry.ID, c.Entry.Fields)
		if err != nil {
			t.Fatal(err)
		}
		if m.Type != tc.typ || !slices.Equal(m.Rooms, tc.rooms) || !slices.Equal(m.Opts.Rooms, []string{"provider-42"}) {
			t.Errorf("%s: %+v", tc.name, m)
		}
		checkCommand(t, xaddArgs(f.StreamName, 1000, roomsEntry(uid, "/", tc.typ, m.Opts.selector(), m.Rooms)), c.Commands[0])
	}
}

func checkCommand(t *testing.T, got []any, want []fixtureArg) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("command %q\nwant (Node) %q", got, want)
		return
	}
	for i := range got {
		if fmt.Sprint(got[i]) != string(want[i]) {
			t.Errorf("argument %d = %q, want (Node) %q", i, got[i], want[i])
		}
	}
}

// TestStreamsMessagesGolden: the requests and responses Node publishes
// between streams-adapter nodes, read by eventide and written byte for byte
// as Node writes them.
func TestStreamsMessagesGolden(t *testing.T) {
	f := loadFixture(t, "streams.json")
	uidA, uidB := f.Servers.A, f.Servers.B
	public := f.ChannelPrefix + "#/#"
	private := public + uidA + "#"

	sub := f.find(t, "subscriptions of two servers")
	if got := []string{str(sub.Commands[0][1]), str(sub.Commands[0][2])}; !slices.Equal(got, []string{public, private}) {
		t.Errorf("subscriptions %q", got)
	}
	if c := f.find(t, "serverCount").Commands[0]; str(c[2]) != public {
		t.Errorf("serverCount %q", c)
	}
	msg := func(c fixtureCase, i int) *clusterMessage {
		t.Helper()
		m, err := decodeClusterMessage(c.Commands[i][2])
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		return m
	}
	same := func(name string, got []byte, err error, want fixtureArg) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s\n%x\nwant (Node)\n%x", name, got, []byte(want))
		}
	}

	fetch := f.find(t, "fetchSockets request and response")
	req := msg(fetch, 0)
	if req.Type != msgFetchSockets || req.UID != uidA || req.RequestID == "" || !slices.Equal(req.Opts.Rooms, []string{"provider-42"}) {
		t.Fatalf("fetch request %+v", req)
	}
	b, err := encodeClusterMessage(msgFetchSockets, uidA, "/", writeFields(field{"opts", wireOpts{Rooms: []string{"provider-42"}, Except: []string{}}}, field{"requestId", req.RequestID}))
	same("fetch request", b, err, fetch.Commands[0][2])
	if str(fetch.Commands[1][1]) != private {
		t.Errorf("response channel %q", fetch.Commands[1][1])
	}
	resp := msg(fetch, 1)
	if resp.Type != msgFetchSocketsResponse || resp.UID != uidB || resp.RequestID != req.RequestID || len(resp.Sockets) != 1 {
		t.Fatalf("fetch response %+v", resp)
	}
	si, err := fromNodeSocket(resp.Sockets[0])
	if err != nil || !slices.Equal(si.Rooms[1:], []string{"provider-42", "provider-7"}) {
		t.Errorf("socket %+v %v", si, err)
	}

	sse := f.find(t, "serverSideEmit without ack")
	m := msg(sse, 0)
	if m.Type != msgServerSideEmit || !reflect.DeepEqual(m.Args, []any{"hello", map[string]any{"a": 1.0}}) {
		t.Errorf("serverSideEmit %+v", m)
	}
	b, err = encodeClusterMessage(msgServerSideEmit, uidA, "/", writeFields(field{"packet", []any{"hello", map[string]any{"a": 1}}}))
	same("serverSideEmit", b, err, sse.Commands[0][2])

	sseAck := f.find(t, "serverSideEmit with ack, request and response")
	m = msg(sseAck, 0)
	b, err = encodeClusterMessage(msgServerSideEmit, uidA, "/", writeFields(field{"requestId", m.RequestID}, field{"packet", []any{"ping", "p"}}))
	same("serverSideEmit with ack", b, err, sseAck.Commands[0][2])
	r := msg(sseAck, 1)
	if r.Type != msgServerSideEmitResponse || !reflect.DeepEqual(r.Reply, map[string]any{"pong": true}) {
		t.Errorf("serverSideEmit response %+v", r)
	}
	b, err = encodeClusterMessage(msgServerSideEmitResponse, uidB, "/", writeFields(field{"requestId", m.RequestID}, field{"packet", map[string]any{"pong": true}}))
	same("serverSideEmit response", b, err, sseAck.Commands[1][2])

	bca := f.find(t, "broadcast with ack: request, client count, ack")
	m = msg(bca, 0)
	if m.Type != msgBroadcast || m.RequestID == "" || m.Packet == nil || m.Opts.Timeout != 5000 {
		t.Fatalf("broadcast with ack %+v", m)
	}
	if string(m.Packet.Text) != `2["ask","q"]` {
		t.Errorf("packet %s", m.Packet.Text)
	}
	o := m.Opts
	b, err = encodeClusterMessage(msgBroadcast, uidA, "/", writeFields(field{"packet", m.Packet}, field{"requestId", m.RequestID}, field{"opts", o}))
	same("broadcast with ack", b, err, bca.Commands[0][2])
	cnt := msg(bca, 1)
	if cnt.Type != msgBroadcastClientCount || cnt.ClientCount != 1 {
		t.Errorf("client count %+v", cnt)
	}
	b, err = encodeClusterMessage(msgBroadcastClientCount, uidB, "/", writeFields(field{"requestId", m.RequestID}, field{"clientCount", int64(1)}))
	same("client count", b, err, bca.Commands[1][2])
	ack := msg(bca, 2)
	if ack.Type != msgBroadcastAck || !reflect.DeepEqual(ack.Reply, map[string]any{"ok": true}) {
		t.Errorf("ack %+v", ack)
	}
	b, err = encodeClusterMessage(msgBroadcastAck, uidB, "/", writeFields(field{"requestId", m.RequestID}, field{"packet", map[string]any{"ok": true}}))
	same("ack", b, err, bca.Commands[2][2])
}

// TestStreamsSessionGolden: a session Node persisted reads back, and
// eventide writes the same SET.
func TestStreamsSessionGolden(t *testing.T) {
	f := loadFixture(t, "streams.json")
	c := f.find(t, "session persisted on a recoverable disconnect")
	cmd := c.Commands[0]
	s, err := decodeSession(string(cmd[2]))
	if err != nil {
		t.Fatal(err)
	}
	want := c.Session.(map[string]any)
	if s.SID != want["sid"] || s.PID != want["pid"] || !slices.Equal(s.Rooms, roomsOf(want["rooms"])) || !reflect.DeepEqual(s.Data, map[string]any{}) {
		t.Errorf("session %+v, want %v", s, want)
	}
	v, err := encodeSession(s)
	if err != nil {
		t.Fatal(err)
	}
	checkCommand(t, sessionSetArgs(f.SessionKeyPrefix, s.PID, v, 120_000), cmd)
}

// TestPacketRoundTrip: values Node never sent in the fixtures (32-bit
// lengths, acks, unusual numbers) survive eventide -> MessagePack ->
// eventide, with the text socket.io-parser would write.
func TestPacketRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 70_000)
	long := string(bytes.Repeat([]byte("z"), 70_000))
	for _, tc := range []struct {
		name string
		args []any
		text string
	}{
		{"32-bit lengths", []any{long, big}, `51-["e","` + long + `",{"_placeholder":true,"num":0}]`},
		{"numbers", []any{0, -0.5, 1e21, 1e-7, 123456789012, 9007199254740993.0}, `2["e",0,-0.5,1e+21,1e-7,123456789012,9007199254740992]`},
		{"escapes", []any{"\"\\\n\x01\u2028</>&"}, `2["e","\"\\\n\u0001` + "\u2028" + `</>&"]`},
		{"nested binary", []any{map[string]any{"a": []any{[]byte{}, []byte{1}}}}, `52-["e",{"a":[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := socketio.EncodeEvent("/", socketio.NoID, "e", tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := writePacket(newEncoder(&buf), p, true); err != nil {
				t.Fatal(err)
			}
			back, err := readPacket(msgpack.NewDecoder(&buf), "/")
			if err != nil {
				t.Fatal(err)
			}
			if string(back.Text) != tc.text {
				t.Errorf("text\n%.200s\nwant\n%.200s", back.Text, tc.text)
			}
			if len(back.Attachments) != len(p.Attachments) {
				t.Fatalf("%d attachments, want %d", len(back.Attachments), len(p.Attachments))
			}
			for i := range p.Attachments {
				if !bytes.Equal(back.Attachments[i], p.Attachments[i]) {
					t.Errorf("attachment %d differs", i)
				}
			}
		})
	}
}
