package rawws

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/eventide/realtime/internal/ws"
)

// incoming is what attendance clients send: {"event": "...", "payload": any}.
// The payload is kept as raw JSON and echoed as compact JSON, unchanged
// otherwise (numbers keep their spelling).
type incoming struct {
	Event   json.RawMessage `json:"event"`
	Payload json.RawMessage `json:"payload"`
}

// Echo is the answer to every well-formed message. A message without a
// payload gets an echo without one, as JSON.stringify drops undefined.
type Echo struct {
	Message   string          `json:"message"` // always "Event received"
	Payload   json.RawMessage `json:"payload,omitempty"`
	Timestamp string          `json:"timestamp"` // like Date.prototype.toISOString
}

// Invalid is the answer to a message the gateway cannot read; the connection
// stays open.
type Invalid struct {
	Message   string `json:"message"` // always "Invalid message"
	Error     string `json:"error"`   // what is wrong, for a human
	Timestamp string `json:"timestamp"`
}

// Reply messages.
const (
	MessageReceived = "Event received"
	MessageInvalid  = "Invalid message"
)

// TimestampLayout formats times as JavaScript's Date.prototype.toISOString
// does (UTC, milliseconds).
const TimestampLayout = "2006-01-02T15:04:05.000Z"

func (s *Service) timestamp() string {
	return s.cfg.Now().UTC().Format(TimestampLayout)
}

// parse reads one message, or says what is wrong with it.
func parse(data []byte) (event string, payload json.RawMessage, err error) {
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v) // for the position of the syntax error
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return "", nil, errors.New("malformed JSON: " + err.Error())
	}
	var m incoming
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return "", nil, errors.New(`message must be a JSON object {"event": string, "payload": any}`)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return "", nil, errors.New("malformed JSON: " + err.Error())
	}
	if len(m.Event) == 0 || m.Event[0] != '"' {
		return "", nil, errors.New(`"event" must be a non-empty string`)
	}
	if err := json.Unmarshal(m.Event, &event); err != nil || event == "" {
		return "", nil, errors.New(`"event" must be a non-empty string`)
	}
	return event, m.Payload, nil
}

// handle answers one message: the echo, or an Invalid message that leaves
// the connection open.
func (s *Service) handle(c *client, op ws.Opcode, data []byte) {
	if op != ws.OpText {
		s.log.Info("invalid message", "client", c.id, "err", "binary frame")
		s.reply(c, Invalid{Message: MessageInvalid, Error: "binary messages are not supported; send JSON text", Timestamp: s.timestamp()})
		return
	}
	event, payload, err := parse(data)
	if err != nil {
		s.log.Info("invalid message", "client", c.id, "err", err)
		s.reply(c, Invalid{Message: MessageInvalid, Error: err.Error(), Timestamp: s.timestamp()})
		return
	}
	s.log.Info("event received", "client", c.id, "event", event, "payload", rawJSON(payload))
	s.reply(c, Echo{Message: MessageReceived, Payload: payload, Timestamp: s.timestamp()})
}

func (s *Service) reply(c *client, v any) {
	frame, err := encode(v)
	if err == nil {
		err = s.enqueue(c, frame)
	}
	if err != nil && !errors.Is(err, ErrUnknownClient) {
		s.log.Warn("reply failed", "client", c.id, "err", err)
	}
}

// rawJSON logs a payload as JSON: embedded as is by slog's JSON handler, as
// text by its text handler.
type rawJSON json.RawMessage

func (r rawJSON) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}

func (r rawJSON) MarshalText() ([]byte, error) {
	if len(r) == 0 {
		return []byte("undefined"), nil
	}
	return r, nil
}
