package socketio

import (
	"encoding/json"
	"math"
)

// DecodedPacket is a packet read from the wire. Data holds the JSON payload
// decoded with encoding/json into any (objects as map[string]any, arrays as
// []any, numbers as float64), with binary placeholders replaced by their
// attachments as []byte; it is nil when the packet has no payload.
type DecodedPacket struct {
	Type      PacketType
	Namespace string // "/" when absent on the wire; for v4 CONNECT it may carry "?query"
	ID        int64  // ack id, NoID if none
	Data      any
	// Attachments are the binary attachments of a BINARY_EVENT or BINARY_ACK.
	Attachments [][]byte
}

// Decoder turns Engine.IO messages into packets, reassembling binary packets
// from their text part and attachments. A Decoder is used by one goroutine.
// The zero value is ready, with DefaultMaxAttachments.
type Decoder struct {
	// MaxAttachments bounds the declared attachments of one packet; 0 means
	// DefaultMaxAttachments.
	MaxAttachments int
	// Client relaxes the rules meant for packets sent by clients (reserved
	// event names) to decode what a server sends; used by test clients.
	Client bool
	want   int32 // the attachments partial awaits (<= MaxAttachments); next to Client: a word less per client

	partial *DecodedPacket
}

// Add feeds one Engine.IO message. It returns the completed packet, or nil
// while a binary packet still waits for attachments. After an error the
// Decoder is reset and may be used for the next message; the caller is
// expected to close the connection as Node.js does.
func (d *Decoder) Add(data []byte, binary bool) (*DecodedPacket, error) {
	if binary {
		p := d.partial
		if p == nil {
			return nil, perr("got binary data when not reconstructing a packet")
		}
		p.Attachments = append(p.Attachments, data)
		if len(p.Attachments) < int(d.want) {
			return nil, nil
		}
		d.partial = nil
		if err := reconstruct(p); err != nil {
			return nil, err
		}
		return p, nil
	}
	if d.partial != nil {
		d.partial = nil
		return nil, perr("got plaintext data when reconstructing a packet")
	}
	p, n, err := decodeText(data, d.maxAttachments(), d.Client)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		p.Attachments = make([][]byte, 0, n)
		d.partial, d.want = p, int32(n)
		return nil, nil
	}
	if p.Type.binary() {
		if err := reconstruct(p); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (d *Decoder) maxAttachments() int {
	if d.MaxAttachments <= 0 {
		return DefaultMaxAttachments
	}
	return min(d.MaxAttachments, math.MaxInt32) // want is an int32
}

// waiting reports whether a binary packet waits for attachments.
func (d *Decoder) waiting() bool { return d.partial != nil }

// Reset drops a partially received binary packet.
func (d *Decoder) Reset() { d.partial = nil }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// decodeText parses `<type>[<attachments>-][<nsp>,][<ack id>][JSON data]`,
// returning the packet and the number of attachments still to come. Every
// loop is bounded by the input length, digit runs by a small constant.
func decodeText(s []byte, maxAttachments int, client bool) (*DecodedPacket, int, error) {
	if len(s) == 0 {
		return nil, 0, perr("empty packet")
	}
	if !isDigit(s[0]) || s[0] > '6' {
		return nil, 0, perr("unknown packet type")
	}
	p := &DecodedPacket{Type: PacketType(s[0] - '0'), Namespace: "/", ID: NoID}
	i := 1
	attachments := 0
	if p.Type.binary() {
		start := i
		for i < len(s) && s[i] != '-' {
			if !isDigit(s[i]) || i-start >= 4 {
				return nil, 0, perr("illegal attachments")
			}
			attachments = attachments*10 + int(s[i]-'0')
			i++
		}
		if i == start || i == len(s) {
			return nil, 0, perr("illegal attachments")
		}
		if attachments > maxAttachments {
			return nil, 0, perr("too many attachments")
		}
		i++ // '-'
	}
	if i < len(s) && s[i] == '/' {
		start := i
		for i < len(s) && s[i] != ',' {
			i++
		}
		p.Namespace = string(s[start:i])
		if i < len(s) {
			i++ // ','
		}
	}
	if i < len(s) && isDigit(s[i]) {
		start := i
		var id int64
		for i < len(s) && isDigit(s[i]) {
			if i-start >= 16 {
				return nil, 0, perr("ack id too large")
			}
			id = id*10 + int64(s[i]-'0')
			i++
		}
		if id > maxAckID {
			return nil, 0, perr("ack id too large")
		}
		p.ID = id
	}
	if i < len(s) {
		var v any
		if err := json.Unmarshal(s[i:], &v); err != nil {
			return nil, 0, perr("invalid payload")
		}
		p.Data = v
	}
	if err := validPayload(p, client); err != nil {
		return nil, 0, err
	}
	return p, attachments, nil
}

// validPayload applies socket.io-parser's isPayloadValid, stricter on event
// names: they must be strings (Node also accepts numbers).
func validPayload(p *DecodedPacket, client bool) error {
	switch p.Type {
	case PacketConnect:
		if p.Data == nil {
			return nil
		}
		if _, ok := p.Data.(map[string]any); !ok {
			return perr("invalid payload: CONNECT data must be an object")
		}
	case PacketDisconnect:
		if p.Data != nil {
			return perr("invalid payload: DISCONNECT carries no data")
		}
	case PacketConnectError:
		switch p.Data.(type) {
		case string, map[string]any:
		default:
			return perr("invalid payload: CONNECT_ERROR data must be a string or an object")
		}
	case PacketEvent, PacketBinaryEvent:
		arr, ok := p.Data.([]any)
		if !ok || len(arr) == 0 {
			return perr("invalid payload: EVENT data must be a non-empty array")
		}
		name, ok := arr[0].(string)
		if !ok {
			return perr("invalid payload: event name must be a string")
		}
		if !client && reservedEvents[name] {
			return perr("invalid payload: reserved event name " + name)
		}
	case PacketAck, PacketBinaryAck:
		if _, ok := p.Data.([]any); !ok {
			return perr("invalid payload: ACK data must be an array")
		}
	}
	return nil
}

// reconstruct replaces {"_placeholder":true,"num":N} objects in p.Data with
// p.Attachments[N]. N must be an integer in range, each used at most once.
func reconstruct(p *DecodedPacket) error {
	used := make([]bool, len(p.Attachments))
	v, err := fill(p.Data, p.Attachments, used)
	if err != nil {
		return err
	}
	p.Data = v
	return nil
}

func fill(v any, att [][]byte, used []bool) (any, error) {
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			r, err := fill(e, att, used)
			if err != nil {
				return nil, err
			}
			x[i] = r
		}
	case map[string]any:
		if ph, ok := x["_placeholder"].(bool); ok && ph {
			f, ok := x["num"].(float64)
			if !ok || f < 0 || f >= float64(len(att)) || f != math.Trunc(f) {
				return nil, perr("illegal attachments: bad placeholder")
			}
			n := int(f)
			if used[n] {
				return nil, perr("illegal attachments: duplicated placeholder")
			}
			used[n] = true
			return att[n], nil
		}
		for k, e := range x {
			r, err := fill(e, att, used)
			if err != nil {
				return nil, err
			}
			x[k] = r
		}
	}
	return v, nil
}
