package bench

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/auth"
	"github.com/eventide/realtime/internal/ratelimit"
	"github.com/eventide/realtime/internal/realtime"
	"github.com/eventide/realtime/internal/socketio"
)

// newGatewayServer serves eventide's real Socket.IO stack and gateway (as
// the bench harness does: no REST, no store), with the dev emit route, and
// returns its URL and an admin token.
func newGatewayServer(t *testing.T) (string, string) {
	t.Helper()
	secret := []byte("bench-polling-test-secret-0123456789")
	verifier, err := auth.NewVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	minter, err := auth.NewMinter(secret)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := minter.Mint(auth.Claims{Subject: "bench", Role: auth.RoleAdmin}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	sio := socketio.NewServer(socketio.Config{Logger: logger})
	svc := realtime.NewGateway(sio, realtime.Config{
		Verifier: verifier, Logger: logger, SubjectEvents: ratelimit.Limit{Rate: -1},
	}).Service()
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", sio)
	mux.HandleFunc("POST /api/v1/dev/emit", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Room  string `json:"room"`
			Event string `json:"event"`
			Data  any    `json:"data"`
			Count int    `json:"count"`
		}
		if json.NewDecoder(r.Body).Decode(&req) != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		for range max(req.Count, 1) {
			if err := svc.EmitToRoom(req.Room, req.Event, req.Data); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		w.WriteHeader(http.StatusAccepted)
	})
	srv := serveLoopback(t, mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = sio.Shutdown(ctx)
		srv.Close()
	})
	return srv.URL, token
}

// TestRunMixedPollingAndWebSocket: with --polling-percent, that share of
// the clients connect, join and receive every event over long-polling from
// eventide's real Socket.IO server, the others over WebSocket.
func TestRunMixedPollingAndWebSocket(t *testing.T) {
	url, token := newGatewayServer(t)
	o := testOptions(url, ScenarioRooms)
	o.Token = token
	o.PollingPercent = 50
	res, err := Run(context.Background(), o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete || res.Delivered != 5*8 || res.Disconnects != 0 {
		t.Fatalf("%+v, want 40 delivered, complete", res)
	}
	want := 0
	for i := range o.Clients {
		if Polls(i, 50) {
			want++
		}
	}
	if want == 0 || want == o.Clients || res.Polling != want {
		t.Errorf("%d clients on long-polling, want %d of %d (some, not all)", res.Polling, want, o.Clients)
	}
}

// TestPollsSpreadsOverRoomsAndNodes: a fifth of the connections poll, and
// every room on every node has some of them.
func TestPollsSpreadsOverRoomsAndNodes(t *testing.T) {
	urls := []string{"a", "b", "c"}
	polling := map[string]int{}
	n := 0
	for i := range 1000 {
		if Polls(i, 20) {
			n++
			polling[NodeOf(i, 10, urls)+string(rune('0'+i%10))]++
		}
	}
	if n < 150 || n > 250 {
		t.Errorf("%d of 1000 poll at 20 %%", n)
	}
	if len(polling) != 30 {
		t.Errorf("polling clients in %d of 30 room-node pairs: %v", len(polling), polling)
	}
	if Polls(7, 0) {
		t.Error("a connection polls at 0 %")
	}
}
