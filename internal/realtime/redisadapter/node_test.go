package redisadapter_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/eventide/realtime/internal/realtime/redisadapter"
	"github.com/eventide/realtime/internal/socketio"
	"github.com/eventide/realtime/internal/socketio/siotest"
)

// nodeServer is a Node.js socket.io 4.8 server on one of Node's Redis
// adapters (from test/interop/node_modules), with a client of its own in
// room "r" that acks "ask" with "node"; its serverSideEmit handler "ping"
// answers "pong <arg>". It prints "READY <socket id>", then "ROOMS <rooms>"
// of its socket whenever a line comes on its stdin.
const nodeServer = `
const { createRequire } = require("node:module");
const req = createRequire(process.env.INTEROP_DIR + "/package.json");
const { createServer } = require("node:http");
const { Server } = req("socket.io");
const { io: connect } = req("socket.io-client");
const { createClient } = req("redis");
const [kind, url, key] = process.argv.slice(2);
(async () => {
  // The name (kept by the adapter's duplicates) finds its stream reader.
  const pub = createClient({ url, name: key }); pub.on("error", () => {}); await pub.connect();
  let adapter;
  if (kind === "classic") {
    const sub = pub.duplicate(); sub.on("error", () => {}); await sub.connect();
    adapter = req("@socket.io/redis-adapter").createAdapter(pub, sub, { key });
  } else {
    adapter = req("@socket.io/redis-streams-adapter").createAdapter(pub, { streamName: key, channelPrefix: key });
  }
  const http = createServer();
  const io = new Server(http, { adapter });
  io.on("connection", (s) => s.on("join", (room, cb) => { s.join(room); cb(); }));
  io.on("ping", (arg, cb) => cb("pong " + arg));
  await new Promise((r) => http.listen(0, "127.0.0.1", r));
  const c = connect("http://127.0.0.1:" + http.address().port, { transports: ["websocket"] });
  c.on("ask", (q, cb) => cb("node"));
  await new Promise((r) => c.on("connect", r));
  await new Promise((r) => c.emit("join", "r", r));
  if (kind === "streams") { // the reader reads from the stream's end once it runs: wait for its XREAD
    while (!(await pub.sendCommand(["CLIENT", "LIST"])).split("\n").some((l) => l.includes("name=" + key + " ") && l.includes("cmd=xread"))) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  console.log("READY " + c.id);
  const rl = require("node:readline").createInterface({ input: process.stdin });
  rl.on("line", () => {
    const s = io.of("/").sockets.get(c.id);
    console.log("ROOMS " + [...s.rooms].sort().join(","));
  });
  rl.on("close", () => process.exit(0));
})().catch((e) => { console.error(e); process.exit(1); });
`

type nodeProc struct {
	t     *testing.T
	id    string
	stdin interface{ Write([]byte) (int, error) }
	lines *bufio.Scanner
}

func startNodeProc(t *testing.T, kind, key string) *nodeProc {
	t.Helper()
	dir, err := filepath.Abs("../../../test/interop")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io")); err != nil {
		why := "test/interop/node_modules is not installed"
		if os.Getenv("EVENTIDE_NODE_CLIENT_TEST") != "" {
			t.Fatal(why)
		}
		t.Skip(why + " (`make test` installs it)")
	}
	script := filepath.Join(t.TempDir(), "server.cjs")
	if err := os.WriteFile(script, []byte(nodeServer), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", script, kind, redisURL(), key)
	cmd.Env = append(os.Environ(), "INTEROP_DIR="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	p := &nodeProc{t: t, stdin: stdin, lines: bufio.NewScanner(stdout)}
	p.id = strings.TrimPrefix(p.line("READY "), "READY ")
	return p
}

// line returns the next line of the Node server, which must start with
// prefix; the test's own timeout guards a hang.
func (p *nodeProc) line(prefix string) string {
	p.t.Helper()
	if !p.lines.Scan() {
		p.t.Fatalf("node server ended before %q: %v", prefix, p.lines.Err())
	}
	if l := p.lines.Text(); strings.HasPrefix(l, prefix) {
		return l
	}
	p.t.Fatalf("node server said %q, want %q", p.lines.Text(), prefix)
	return ""
}

func (p *nodeProc) rooms() []string {
	p.t.Helper()
	_, _ = p.stdin.Write([]byte("rooms\n"))
	return strings.Split(strings.TrimPrefix(p.line("ROOMS "), "ROOMS "), ",")
}

// TestRequestsToNode: eventide's own cluster requests, answered by a Node
// node on each adapter: serverCount, fetchSockets, allRooms, socketsJoin,
// serverSideEmit with acks and a broadcast with acks.
func TestRequestsToNode(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			key := testKey(t)
			a := startNode(t, newBroker(t, k, redisadapter.Config{Key: key}))
			node := startNodeProc(t, k.name, key)
			ca, sa := a.client("r")
			ctx := t.Context()

			eventually(t, "two nodes", func() bool {
				n, err := a.nsp().ServerCount(ctx)
				return err == nil && n == 2
			})
			infos, err := a.nsp().To("r").FetchSockets(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, si := range infos {
				ids = append(ids, si.ID)
			}
			sort.Strings(ids)
			want := []string{node.id, sa.ID()}
			sort.Strings(want)
			if !slices.Equal(ids, want) {
				t.Fatalf("FetchSockets ids %v, want %v", ids, want)
			}
			rooms, err := a.nsp().AllRooms(ctx)
			if err != nil || !slices.Contains(rooms, node.id) || !slices.Contains(rooms, "r") {
				t.Fatalf("AllRooms = %v, %v", rooms, err)
			}

			if err := a.nsp().In(node.id).SocketsJoin(ctx, "joined-by-eventide"); err != nil {
				t.Fatal(err)
			}
			eventually(t, "Node's socket joined", func() bool { return slices.Contains(node.rooms(), "joined-by-eventide") })

			replies, err := a.nsp().ServerSideEmitWithAck(ctx, "ping", "x")
			if err != nil || !reflect.DeepEqual(replies, []any{"pong x"}) {
				t.Fatalf("ServerSideEmitWithAck = %v, %v", replies, err)
			}

			done := make(chan [][]any, 1)
			go func() {
				actx, cancel := context.WithTimeout(ctx, siotest.Timeout)
				defer cancel()
				acks, err := a.nsp().To("r").EmitWithAck(actx, "ask", "?")
				if err != nil {
					t.Error(err)
				}
				done <- acks
			}()
			p := ca.Next()
			if p.Type != socketio.PacketEvent || p.ID == socketio.NoID {
				t.Fatalf("got %s id %d, want an event asking for an ack", p.Type, p.ID)
			}
			ack, _ := socketio.EncodeAck("/", p.ID, "eventide")
			ca.Send(ack)
			acks := <-done
			sort.Slice(acks, func(i, j int) bool { return acks[i][0].(string) < acks[j][0].(string) })
			if !reflect.DeepEqual(acks, [][]any{{"eventide"}, {"node"}}) {
				t.Fatalf("acks %v", acks)
			}
		})
	}
}
