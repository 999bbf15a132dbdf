package realtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/eventide/realtime/internal/auth"
	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/realtime"
	"github.com/eventide/realtime/internal/socketio"
	"github.com/eventide/realtime/internal/socketio/siotest"
)

// The realtime contract test: api/asyncapi.yaml describes the Socket.IO
// events (and, through its $refs, the REST schemas of api/openapi.yaml it
// shares). The events and acks the server sends to a contractClient are
// checked against it as they arrive, and so are the requests the client
// sends, unless a test sends an off-contract one on purpose. The TypeScript
// types of web/ are generated from the same file (ADR 0021), so the server,
// the contract and the dashboard cannot drift apart without a failure.

// contract is api/asyncapi.yaml compiled: the payload schema of each event
// by direction, and the schema of the ack of each event the server answers.
type contract struct {
	send    map[string]*jsonschema.Schema // events the server emits
	receive map[string]*jsonschema.Schema // events a client emits
	reply   map[string]*jsonschema.Schema // the ack of a received event
}

var (
	contractOnce sync.Once
	theContract  *contract
	contractErr  error
)

func realtimeContract(t *testing.T) *contract {
	t.Helper()
	contractOnce.Do(func() { theContract, contractErr = loadContract("../../api") })
	if contractErr != nil {
		t.Fatalf("contract: %v", contractErr)
	}
	return theContract
}

// loadContract compiles the operations of dir/asyncapi.yaml. The schemas
// are read as JSON Schema 2020-12, the dialect of OpenAPI 3.1, whose
// schemas the AsyncAPI document refers to; its own schemas keep to what
// draft-07 (AsyncAPI's default) and 2020-12 read alike. Formats
// (date-time) are asserted. Every example of a message must fit its payload.
func loadContract(dir string) (*contract, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	base := (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs) + "/"}).String()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	var asyncapi map[string]any
	for _, name := range []string{"asyncapi.yaml", "openapi.yaml"} {
		doc, err := readYAML(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		if err := c.AddResource(base+name, doc); err != nil {
			return nil, err
		}
		if name == "asyncapi.yaml" {
			asyncapi, _ = doc.(map[string]any)
		}
	}
	if asyncapi == nil || asyncapi["asyncapi"] != "3.0.0" {
		return nil, fmt.Errorf("api/asyncapi.yaml is not an AsyncAPI 3.0.0 document")
	}
	k := &contract{send: map[string]*jsonschema.Schema{}, receive: map[string]*jsonschema.Schema{}, reply: map[string]*jsonschema.Schema{}}
	compileMessage := func(where string, ref any) (string, *jsonschema.Schema, error) {
		ptr, msg, err := resolve(asyncapi, ref)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", where, err)
		}
		name, _ := msg["name"].(string)
		sch, err := c.Compile(base + "asyncapi.yaml" + ptr + "/payload")
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", where, err)
		}
		examples, _ := msg["examples"].([]any)
		for i, ex := range examples {
			payload := ex.(map[string]any)["payload"]
			if err := sch.Validate(payload); err != nil {
				return "", nil, fmt.Errorf("%s: example %d of %s does not fit its payload: %v", where, i, name, err)
			}
		}
		return name, sch, nil
	}
	ops, _ := asyncapi["operations"].(map[string]any)
	for id, o := range ops {
		op := o.(map[string]any)
		where := "operations." + id
		msgs, _ := op["messages"].([]any)
		if len(msgs) != 1 {
			return nil, fmt.Errorf("%s: want one message (one event name) per operation", where)
		}
		event, sch, err := compileMessage(where, msgs[0])
		if err != nil {
			return nil, err
		}
		switch op["action"] {
		case "send":
			k.send[event] = sch
		case "receive":
			k.receive[event] = sch
		default:
			return nil, fmt.Errorf("%s: action %v", where, op["action"])
		}
		if r, ok := op["reply"].(map[string]any); ok {
			replies, _ := r["messages"].([]any)
			if len(replies) != 1 {
				return nil, fmt.Errorf("%s.reply: want one message", where)
			}
			if _, k.reply[event], err = compileMessage(where+".reply", replies[0]); err != nil {
				return nil, err
			}
		}
	}
	return k, nil
}

// readYAML reads a YAML file into the values jsonschema validates with
// (json.Number for numbers), through JSON.
func readYAML(path string) (any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(j))
}

// resolve follows local $refs ({"$ref": "#/a/b"}) from ref to an object
// that is not one, returning its JSON pointer.
func resolve(doc map[string]any, ref any) (string, map[string]any, error) {
	ptr := ""
	node, _ := ref.(map[string]any)
	for i := 0; node != nil && node["$ref"] != nil; i++ {
		r, _ := node["$ref"].(string)
		if !strings.HasPrefix(r, "#/") || i > 10 {
			return "", nil, fmt.Errorf("unsupported $ref %v", node["$ref"])
		}
		ptr = r
		var cur any = doc
		for _, part := range strings.Split(r[2:], "/") {
			m, _ := cur.(map[string]any)
			cur = m[strings.NewReplacer("~1", "/", "~0", "~").Replace(part)]
		}
		node, _ = cur.(map[string]any)
	}
	if node == nil || ptr == "" {
		return "", nil, fmt.Errorf("a message must be a $ref to a message object")
	}
	return ptr, node, nil
}

// check validates one payload (as the client decoded it) against sch.
func check(sch *jsonschema.Schema, payload any) error {
	j, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		return err
	}
	return sch.Validate(v)
}

// checkSent checks an event the server emitted.
func (k *contract) checkSent(event string, payload any) error {
	sch, ok := k.send[event]
	if !ok {
		return fmt.Errorf("the server emitted %q, which api/asyncapi.yaml does not list as sent", event)
	}
	return check(sch, payload)
}

// checkAck checks the server's ack of a received event.
func (k *contract) checkAck(event string, payload any) error {
	sch, ok := k.reply[event]
	if !ok {
		return fmt.Errorf("the server acked %q, which has no reply in api/asyncapi.yaml", event)
	}
	return check(sch, payload)
}

// checkRequest checks an event a client emits.
func (k *contract) checkRequest(event string, payload any) error {
	sch, ok := k.receive[event]
	if !ok {
		return fmt.Errorf("%q is not an event api/asyncapi.yaml lets a client emit", event)
	}
	return check(sch, payload)
}

// contractClient is a Socket.IO client whose traffic is checked against the
// contract, recording which events and acks it saw.
type contractClient struct {
	t    *testing.T
	c    *siotest.Client
	k    *contract
	acks map[int64]string // ack id -> the event it answers
	seen map[string]bool  // "send X", "receive X", "reply X"
}

// emit sends event with payload, asking for an ack unless id is
// socketio.NoID; the request must fit the contract.
func (cc *contractClient) emit(id int64, event string, payload any) {
	cc.t.Helper()
	if err := cc.k.checkRequest(event, payload); err != nil {
		cc.t.Fatalf("contract: request %s %v: %v", event, payload, err)
	}
	cc.seen["receive "+event] = true
	cc.emitOffContract(id, event, payload)
}

// emitOffContract sends a request the contract does not allow (a malformed
// room, no argument): what the server answers must still fit it.
func (cc *contractClient) emitOffContract(id int64, event string, args ...any) {
	cc.t.Helper()
	if id != socketio.NoID {
		cc.acks[id] = event
	}
	cc.c.Emit(id, event, args...)
}

// event returns the next packet, which must be an event that fits the
// contract.
func (cc *contractClient) event() (string, map[string]any) {
	cc.t.Helper()
	name, args := cc.c.NextEvent()
	return name, cc.checkEvent(name, args)
}

func (cc *contractClient) checkEvent(name string, args []any) map[string]any {
	cc.t.Helper()
	if len(args) != 1 {
		cc.t.Fatalf("contract: %s came with %d arguments, want its one payload", name, len(args))
	}
	if err := cc.k.checkSent(name, args[0]); err != nil {
		cc.t.Fatalf("contract: event %s %v: %v", name, args[0], err)
	}
	cc.seen["send "+name] = true
	payload, _ := args[0].(map[string]any)
	return payload
}

// ack returns the next packet, which must be the ack with id and fit the
// contract's reply of the event it answers.
func (cc *contractClient) ack(id int64) map[string]any {
	cc.t.Helper()
	args := cc.c.NextAck(id)
	event := cc.acks[id]
	delete(cc.acks, id)
	if len(args) != 1 {
		cc.t.Fatalf("contract: the ack of %s came with %d arguments, want one", event, len(args))
	}
	if err := cc.k.checkAck(event, args[0]); err != nil {
		cc.t.Fatalf("contract: ack of %s %v: %v", event, args[0], err)
	}
	cc.seen["reply "+event] = true
	payload, _ := args[0].(map[string]any)
	return payload
}

// expect reads the answer to a room request: the event, then its ack when
// id asked for one; it fails unless they are want and status.
func (cc *contractClient) expect(id int64, want, status string) map[string]any {
	cc.t.Helper()
	name, payload := cc.event()
	if name != want {
		cc.t.Fatalf("got %s %v, want %s", name, payload, want)
	}
	if id != socketio.NoID {
		if ack := cc.ack(id); ack["status"] != status {
			cc.t.Fatalf("ack %v, want status %s", ack, status)
		}
	}
	return payload
}

// uncovered lists what the contract has that the client never saw.
func (cc *contractClient) uncovered() []string {
	var missing []string
	for dir, events := range map[string]map[string]*jsonschema.Schema{"send": cc.k.send, "receive": cc.k.receive, "reply": cc.k.reply} {
		for e := range events {
			if !cc.seen[dir+" "+e] {
				missing = append(missing, dir+" "+e)
			}
		}
	}
	slices.Sort(missing)
	return missing
}

// TestRealtimeContract drives every event of api/asyncapi.yaml through the
// real gateway, over both protocol generations (socket.io-client 3/4 and
// 2.x), and checks all the server sends against the contract: joins in each
// form, availabilityUpdated for each action, every refusal, leaving, and
// the exception of a token's expiry.
func TestRealtimeContract(t *testing.T) {
	k := realtimeContract(t)
	const leeway = 30 * time.Second
	for _, proto := range []int{4, 3} {
		t.Run(fmt.Sprintf("EIO%d", proto), func(t *testing.T) {
			g := startGateway(t, gatewayOptions{leeway: leeway, maxRooms: 2})
			tok := g.token(auth.Claims{Role: auth.RoleClient, Providers: []string{"42", "44", "45"}}, time.Hour)
			expires := g.clock.Now().Add(time.Hour + leeway)
			var sc *siotest.Client
			if proto == 3 {
				sc = siotest.Dial(t, g.url, siotest.Options{Protocol: 3, Query: url.Values{"token": {tok}}})
				sc.MustConnect(nil)
			} else {
				sc = siotest.Dial(t, g.url, siotest.Options{})
				sc.MustConnect(map[string]any{"token": tok})
			}
			c := &contractClient{t: t, c: sc, k: k, acks: map[int64]string{}, seen: map[string]bool{}}

			// Every form of a room request; joining twice succeeds.
			c.emit(1, realtime.EventJoinRoom, "provider-42")
			if got := c.expect(1, realtime.EventJoinedRoom, "ok"); got["room"] != "provider-42" {
				t.Fatalf("joinedRoom %v", got)
			}
			c.emit(2, realtime.EventJoinRoom, map[string]any{"room": "provider-42"})
			c.expect(2, realtime.EventJoinedRoom, "ok")
			c.emit(3, realtime.EventJoinRoom, map[string]any{"providerId": "44"})
			c.expect(3, realtime.EventJoinedRoom, "ok")
			c.emit(4, realtime.EventJoinRoom, map[string]any{"providerId": 42})
			c.expect(4, realtime.EventJoinedRoom, "ok")
			c.emit(socketio.NoID, realtime.EventJoinRoom, "provider-42") // no ack asked: none comes
			c.expect(socketio.NoID, realtime.EventJoinedRoom, "")

			// A committed change of each kind, as the relay publishes it.
			at := g.clock.Now().UTC()
			slot := availability.Slot{
				ID: 17, ProviderID: "42", Start: at.Add(time.Hour), End: at.Add(2 * time.Hour),
				Status: availability.StatusAvailable, Note: "first\tline\nsecond", Version: 1, CreatedAt: at, UpdatedAt: at,
			}
			for i, action := range []string{availability.ActionCreated, availability.ActionUpdated, availability.ActionDeleted} {
				if action == availability.ActionUpdated {
					slot.Status, slot.Version, slot.UpdatedAt = availability.StatusBooked, 2, at.Add(1500*time.Microsecond)
				}
				change := availability.Change{Action: action, ProviderID: "42", Slot: slot, Seq: int64(i + 1), At: slot.UpdatedAt}
				if err := g.service.Publish(context.Background(), change); err != nil {
					t.Fatal(err)
				}
				name, payload := c.event()
				if name != realtime.EventAvailabilityUpdated || payload["action"] != action {
					t.Fatalf("got %s %v, want availabilityUpdated %s", name, payload, action)
				}
			}

			// Refusals: not allowed, over the rooms limit, malformed.
			c.emit(5, realtime.EventJoinRoom, "provider-43")
			c.expect(5, realtime.EventException, "error")
			c.emit(6, realtime.EventJoinRoom, map[string]any{"room": "provider-45"})
			if got := c.expect(6, realtime.EventException, "error"); !strings.HasPrefix(got["message"].(string), "too many rooms") {
				t.Fatalf("exception %v", got)
			}
			c.emitOffContract(7, realtime.EventJoinRoom, "lobby")
			c.expect(7, realtime.EventException, "error")
			c.emitOffContract(8, realtime.EventJoinRoom)
			c.expect(8, realtime.EventException, "error")
			c.emitOffContract(9, realtime.EventLeaveRoom, map[string]any{"room": 5})
			c.expect(9, realtime.EventException, "error")

			c.emit(10, realtime.EventLeaveRoom, map[string]any{"providerId": "44"})
			if got := c.expect(10, realtime.EventLeftRoom, "ok"); got["room"] != "provider-44" {
				t.Fatalf("leftRoom %v", got)
			}

			// The token expires: an exception about no request, then the
			// disconnect.
			g.clock.Set(expires)
			got := sc.Closed()
			if len(got) != 2 || got[0].Type != socketio.PacketEvent || got[1].Type != socketio.PacketDisconnect {
				t.Fatalf("got %v before the close, want exception and DISCONNECT", got)
			}
			arr := got[0].Data.([]any)
			name, _ := arr[0].(string)
			if payload := c.checkEvent(name, arr[1:]); name != realtime.EventException || payload["cause"] != nil {
				t.Fatalf("got %s %v, want an exception without a cause", name, payload)
			}

			if missing := c.uncovered(); len(missing) > 0 {
				t.Errorf("api/asyncapi.yaml has events this test never saw: %v", missing)
			}
		})
	}
}

// TestRealtimeContractCatchesDrift proves the checks can fail: payloads
// that differ from the contract must be reported.
func TestRealtimeContractCatchesDrift(t *testing.T) {
	k := realtimeContract(t)
	slot := map[string]any{
		"id": 1, "providerId": "42", "start": "2030-01-01T09:00:00Z", "end": "2030-01-01T10:00:00Z", "status": "available",
		"note": "", "version": 1, "createdAt": "2030-01-01T08:00:00Z", "updatedAt": "2030-01-01T08:00:00Z",
	}
	change := func(edit func(c, s map[string]any)) map[string]any {
		s := make(map[string]any, len(slot))
		for k, v := range slot {
			s[k] = v
		}
		c := map[string]any{"action": "created", "providerId": "42", "slot": s, "seq": 1, "at": "2030-01-01T08:00:00Z"}
		edit(c, s)
		return c
	}
	if err := k.checkSent(realtime.EventAvailabilityUpdated, change(func(c, s map[string]any) {})); err != nil {
		t.Fatalf("a correct change was rejected: %v", err)
	}
	for name, err := range map[string]error{
		"change without seq":        k.checkSent(realtime.EventAvailabilityUpdated, change(func(c, s map[string]any) { delete(c, "seq") })),
		"change with a bad action":  k.checkSent(realtime.EventAvailabilityUpdated, change(func(c, s map[string]any) { c["action"] = "moved" })),
		"slot with a bad status":    k.checkSent(realtime.EventAvailabilityUpdated, change(func(c, s map[string]any) { s["status"] = "free" })),
		"slot with an extra field":  k.checkSent(realtime.EventAvailabilityUpdated, change(func(c, s map[string]any) { s["colour"] = "red" })),
		"change time not RFC 3339":  k.checkSent(realtime.EventAvailabilityUpdated, change(func(c, s map[string]any) { c["at"] = "yesterday" })),
		"seq as a string":           k.checkSent(realtime.EventAvailabilityUpdated, change(func(c, s map[string]any) { c["seq"] = "1" })),
		"joinedRoom, not a room":    k.checkSent(realtime.EventJoinedRoom, map[string]any{"room": "lobby"}),
		"leftRoom with more":        k.checkSent(realtime.EventLeftRoom, map[string]any{"room": "provider-42", "at": 1}),
		"exception not an error":    k.checkSent(realtime.EventException, map[string]any{"status": "ok", "message": "x"}),
		"exception without message": k.checkSent(realtime.EventException, map[string]any{"status": "error"}),
		"an event not in it":        k.checkSent("slotChanged", map[string]any{}),
		"ok ack without room":       k.checkAck(realtime.EventJoinRoom, map[string]any{"status": "ok"}),
		"error ack without message": k.checkAck(realtime.EventLeaveRoom, map[string]any{"status": "error"}),
		"ack of an unknown status":  k.checkAck(realtime.EventJoinRoom, map[string]any{"status": "maybe", "room": "provider-42"}),
		"request with extra field":  k.checkRequest(realtime.EventJoinRoom, map[string]any{"room": "provider-42", "x": 1}),
		"request for a bad room":    k.checkRequest(realtime.EventLeaveRoom, "lobby"),
		"request not in it":         k.checkRequest("subscribe", "provider-42"),
	} {
		if err == nil {
			t.Errorf("%s: the contract check accepted it", name)
		}
	}
}
