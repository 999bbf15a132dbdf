//go:build linux

package ws

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// TestTakenOverSockets runs the tests of raw writes, the poller and the
// io_uring batch again with the server side taken over from its net.Conn.
func TestTakenOverSockets(t *testing.T) {
	pairsTakenOver = true
	t.Cleanup(func() { pairsTakenOver = false })
	for name, f := range map[string]func(*testing.T){
		"WriteFramesNow":                TestWriteFramesNow,
		"PollerWatchRearmClose":         TestPollerWatchRearmClose,
		"ClosedConnLeavesPoller":        TestClosedConnLeavesPoller,
		"SendBatch":                     TestSendBatch,
		"SendBatchFullSocket":           TestSendBatchFullSocket,
		"SendBatchFinishesInBackground": TestSendBatchFinishesTheRestInBackground,
		"SendBatchesOfChangingSize":     TestSendBatchesOfChangingSize,
		"OnFrame":                       TestOnFrame,
	} {
		t.Run(name, f)
	}
}

// takenPair is tcpPair with the server side taken over.
func takenPair(t *testing.T) (*Conn, *sock, net.Conn) {
	t.Helper()
	pairsTakenOver = true
	defer func() { pairsTakenOver = false }()
	c, cli := tcpPair(t)
	s, ok := c.nc.(*sock)
	if !ok {
		t.Fatalf("server side is a %T", c.nc)
	}
	return c, s, cli
}

// TestUpgradeTakesOver: an upgrade with TakeOver keeps the bare socket,
// tells the Adopter before closing the net.Conn, and the WebSocket works
// both ways; without TakeOver the net.Conn stays.
func TestUpgradeTakesOver(t *testing.T) {
	for _, take := range []bool{false, true} {
		a := &recordingAdopter{}
		got := make(chan *Conn, 1)
		hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := Upgrade(w, r, UpgradeOptions{TakeOver: take})
			if err != nil {
				t.Error(err)
				return
			}
			got <- c
		}))
		hs.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context { return WithAdopter(ctx, a) }
		hs.Start()
		cli := dial(t, hs)
		srv := <-got
		if _, isSock := srv.nc.(*sock); isSock != take {
			t.Fatalf("TakeOver %v: server side is a %T", take, srv.nc)
		}
		if take != (a.n() == 1) {
			t.Fatalf("TakeOver %v: adopter told %d times", take, a.n())
		}
		if take {
			if a.old.RemoteAddr().String() != srv.RemoteAddr().String() || srv.LocalAddr().String() != hs.Listener.Addr().String() {
				t.Fatalf("addresses: %v %v, net.Conn had %v", srv.RemoteAddr(), srv.LocalAddr(), a.old.RemoteAddr())
			}
			if !a.sock.Open() {
				t.Fatal("adopted socket reported closed")
			}
		}
		if err := cli.WriteMessage(OpText, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		if op, p, err := srv.ReadMessage(1 << 10); err != nil || op != OpText || string(p) != "hello" {
			t.Fatalf("server read %v %q %v", op, p, err)
		}
		if err := srv.WriteMessage(OpText, []byte("world")); err != nil {
			t.Fatal(err)
		}
		if _, p, err := cli.ReadMessage(1 << 10); err != nil || string(p) != "world" {
			t.Fatalf("client read %q %v", p, err)
		}
		_ = srv.Close()
		if take && a.sock.Open() {
			t.Fatal("closed socket reported open")
		}
		if _, _, err := cli.ReadMessage(1 << 10); !IsPeerClose(err) {
			t.Fatalf("client after close: %v", err)
		}
		hs.Close()
	}
}

type recordingAdopter struct {
	mu   sync.Mutex
	old  net.Conn
	sock interface{ Open() bool }
	cnt  int
}

func (a *recordingAdopter) Adopt(old net.Conn, s interface{ Open() bool }) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.old, a.sock = old, s
	a.cnt++
	if _, err := old.Write(nil); err != nil { // still open when told
		panic("adopter told after the net.Conn was closed")
	}
}

func (a *recordingAdopter) n() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cnt
}

// TestSockReadWaits: a message cut in two is read whole (the read waits
// for its second half), a read deadline ends a wait, and Close ends one.
func TestSockReadWaits(t *testing.T) {
	c, _, cli := takenPair(t)
	f := maskedFrame("split across two writes")
	got := make(chan error, 1)
	go func() {
		_, p, err := c.ReadMessage(1 << 10)
		if err == nil && string(p) != "split across two writes" {
			err = errors.New("read " + string(p))
		}
		got <- err
	}()
	if _, err := cli.Write(f[:5]); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Write(f[5:]); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}

	// A deadline already passed: the read that would wait fails at once.
	if err := c.SetReadDeadline(time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadMessage(1 << 10); !IsTimeout(err) {
		t.Fatalf("read past its deadline: %v", err)
	}
	// A deadline set while the read waits ends it.
	_ = c.SetReadDeadline(time.Time{})
	go func() { _, _, err := c.ReadMessage(1 << 10); got <- err }()
	waitWaiting(t, c.nc.(*sock), 0)
	_ = c.SetReadDeadline(time.Unix(1, 0))
	if err := <-got; !IsTimeout(err) {
		t.Fatalf("read cut by a deadline: %v", err)
	}
	// Close ends a waiting read.
	_ = c.SetReadDeadline(time.Time{})
	go func() { _, _, err := c.ReadMessage(1 << 10); got <- err }()
	waitWaiting(t, c.nc.(*sock), 0)
	_ = c.Abort()
	if err := <-got; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read ended by Close: %v", err)
	}
	// The peer sees the end.
	_ = cli.SetReadDeadline(time.Now().Add(guard))
	if _, err := cli.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("peer after close: %v", err)
	}
}

// waitWaiting waits until a call of s waits (dir 0: a read, 1: a write).
func waitWaiting(t *testing.T, s *sock, dir int) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for {
		if p := s.slow.Load(); p != nil {
			p.mu.Lock()
			w := p.waits[dir]
			p.mu.Unlock()
			if w != nil {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no call waits")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSockWriteDeadline: a write to a peer that does not read waits, and
// the close frame's deadline (CloseWith) ends it; the connection closes.
func TestSockWriteDeadline(t *testing.T) {
	c, s, _ := takenPair(t)
	big := AppendFrame(nil, OpBinary, make([]byte, 64<<20)) // more than the socket buffers hold
	done := make(chan error, 1)
	go func() { done <- c.WriteFrames([][]byte{big}) }()
	waitWaiting(t, s, 1)
	if err := c.SetWriteDeadline(time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !IsTimeout(err) {
		t.Fatalf("blocked write cut by its deadline: %v", err)
	}
	// Nothing waits any more, and the socket closes once.
	if err := c.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second close: %v", err)
	}
	if s.state.Load() != sockClosed {
		t.Fatalf("state %d after close", s.state.Load())
	}
}

// TestSockClosedUnderACall: closing a socket while a call holds its
// descriptor (as an io_uring send does, through Control) leaves the
// descriptor open until the call returns, then closes it.
func TestSockClosedUnderACall(t *testing.T) {
	c, s, _ := takenPair(t)
	fd := int(s.fd)
	var st0 syscall.Stat_t
	if err := syscall.Fstat(fd, &st0); err != nil {
		t.Fatal(err)
	}
	sameSocket := func() bool {
		var st syscall.Stat_t
		return syscall.Fstat(fd, &st) == nil && st.Ino == st0.Ino && st.Dev == st0.Dev
	}
	err := c.rc.Control(func(uintptr) {
		if err := c.Abort(); err != nil {
			t.Error(err)
		}
		if !sameSocket() {
			t.Error("descriptor closed under a call that holds it")
		}
		if err := c.rc.Control(func(uintptr) { t.Error("a closed socket's descriptor handed out") }); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Control after close: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if sameSocket() {
		t.Fatal("descriptor still open after the last call returned")
	}
	if _, err := c.WriteFramesNow([][]byte{AppendFrame(nil, OpText, []byte("x"))}); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
}

// TestSockSize: an idle connection's Conn and sock stay small (ADR 0032).
func TestSockSize(t *testing.T) {
	if n := unsafe.Sizeof(sock{}); n > 24 {
		t.Fatalf("sock is %d bytes", n)
	}
	if n := unsafe.Sizeof(Conn{}); n > 96 {
		t.Fatalf("Conn is %d bytes", n)
	}
	c, s, _ := takenPair(t)
	_ = c.SetReadDeadline(time.Time{}) // clearing no deadline
	if s.slow.Load() != nil {
		t.Fatal("the slow part made without a deadline or a wait")
	}
}

// TestSockNonBlocking: the duplicate keeps the socket non-blocking (it
// shares the open file's flags), which every raw call relies on.
func TestSockNonBlocking(t *testing.T) {
	_, s, _ := takenPair(t)
	var nb bool
	_ = (*rawSock)(s).Control(func(fd uintptr) {
		fl, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
		nb = errno == 0 && fl&syscall.O_NONBLOCK != 0
	})
	if !nb {
		t.Fatal("taken-over socket is blocking")
	}
}

// TestSockCloseRacesCalls: Close racing writes, raw calls and a waiting
// read (run with -race): every call either runs on the open socket or
// fails with the connection closed, and the descriptor is closed once,
// after the last call.
func TestSockCloseRacesCalls(t *testing.T) {
	for range 20 {
		c, s, _ := takenPair(t)
		fd := int(s.fd)
		var st0 syscall.Stat_t
		if err := syscall.Fstat(fd, &st0); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		frame := AppendFrame(nil, OpText, []byte("x"))
		for range 4 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-start
				for range 50 {
					if _, err := c.WriteFramesNow([][]byte{frame}); err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, net.ErrClosed) {
						t.Errorf("write: %v", err)
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				<-start
				for range 50 {
					_ = c.rc.Control(func(fd uintptr) {
						var st syscall.Stat_t
						if syscall.Fstat(int(fd), &st) != nil || st.Ino != st0.Ino {
							t.Error("a call ran on a closed or reused descriptor")
						}
					})
				}
			}()
		}
		read := make(chan error, 1)
		go func() { _, _, err := c.ReadMessage(1 << 10); read <- err }()
		close(start)
		_ = c.Abort()
		wg.Wait()
		if err := <-read; err == nil {
			t.Fatal("read succeeded on a closed socket")
		}
		if s.state.Load() != sockClosed {
			t.Fatalf("state %d after every call returned", s.state.Load())
		}
	}
}
