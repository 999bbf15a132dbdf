package rawws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"unicode/utf8"

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
	return s.clock.Now().UTC().Format(TimestampLayout)
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
// the connection open. Each message is logged at debug level only, its
// event and payload cut to logMax bytes: at info the log would grow with
// the traffic, as fast as any client likes.
func (s *Service) handle(c *client, op ws.Opcode, data []byte) {
	debug := s.log.Enabled(context.Background(), slog.LevelDebug)
	if op != ws.OpText {
		if debug {
			s.log.Debug("invalid message", "client", c.id, "err", "binary frame")
		}
		s.reply(c, Invalid{Message: MessageInvalid, Error: "binary messages are not supported; send JSON text", Timestamp: s.timestamp()})
		return
	}
	event, payload, err := parse(data)
	if err != nil {
		if debug {
			s.log.Debug("invalid message", "client", c.id, "err", truncate(err.Error(), logMax))
		}
		s.reply(c, Invalid{Message: MessageInvalid, Error: err.Error(), Timestamp: s.timestamp()})
		return
	}
	if debug {
		s.log.Debug("event received", "client", c.id, "event", truncate(event, logMax), logPayload(payload))
	}
	s.reply(c, Echo{Message: MessageReceived, Payload: payload, Timestamp: s.timestamp()})
}

func (s *Service) reply(c *client, v any) {
	frame, err := encode(v)
	if err == nil {
		err = s.enqueue(c, frame)
	}
	if err != nil && !errors.Is(err, ErrUnknownClient) && !errors.Is(err, ErrSlowClient) {
		s.log.Warn("reply failed", "client", c.id, "err", err)
	}
}

// logMax bounds what a client's message puts in one log line.
const logMax = 256

// truncate cuts s to at most n bytes, on a UTF-8 boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// logPayload is the payload attribute of "event received": the JSON itself
// when it fits in logMax bytes, else its beginning as a string, with its
// size.
func logPayload(p json.RawMessage) slog.Attr {
	if len(p) <= logMax {
		return slog.Any("payload", rawJSON(p))
	}
	return slog.Group("payload", "start", truncate(string(p), logMax), "bytes", len(p))
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
