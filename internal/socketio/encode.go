package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/eventide/realtime/internal/engineio"
)

// Packet is an encoded Socket.IO packet: its text part and binary attachments
// in wire order. It is immutable once built and is what crosses an Adapter, so
// one broadcast is encoded once, for every recipient and both protocol
// versions (v4 and v5 encode events and acks identically).
type Packet struct {
	Type        PacketType
	Namespace   string
	Text        []byte   // the text message, e.g. `451-["file",{"_placeholder":true,"num":0}]`
	Attachments [][]byte // the binary messages that follow Text

	event string // the EVENT's name when encoded here (eventName)

	once sync.Once
	msgs []*engineio.Message
}

// NewPacket rebuilds a Packet from its encoded parts, e.g. on an adapter that
// received it from another process.
func NewPacket(t PacketType, nsp string, text []byte, attachments [][]byte) *Packet {
	return &Packet{Type: t, Namespace: nsp, Text: text, Attachments: attachments}
}

// Messages returns the Engine.IO messages of p, prepared once and shared by
// every connection p is sent to.
func (p *Packet) Messages() []*engineio.Message {
	p.once.Do(func() {
		msgs := make([]*engineio.Message, 0, 1+len(p.Attachments))
		msgs = append(msgs, engineio.TextMessage(p.Text))
		for _, a := range p.Attachments {
			msgs = append(msgs, engineio.BinaryMessage(a))
		}
		p.msgs = msgs
	})
	return p.msgs
}

// bufPool holds encoding buffers; each carries its own json.Encoder.
var bufPool = sync.Pool{New: func() any {
	b := &encBuf{}
	b.enc = json.NewEncoder(&b.buf)
	b.enc.SetEscapeHTML(false) // like JSON.stringify
	return b
}}

type encBuf struct {
	buf bytes.Buffer
	enc *json.Encoder
}

func getBuf() *encBuf { return bufPool.Get().(*encBuf) }

func putBuf(b *encBuf) {
	if b.buf.Cap() > 64<<10 {
		return // do not keep huge buffers alive
	}
	b.buf.Reset()
	bufPool.Put(b)
}

// writeJSON appends the JSON of v without json.Encoder's trailing newline.
func (b *encBuf) writeJSON(v any) error {
	if err := b.enc.Encode(v); err != nil {
		return err
	}
	b.buf.Truncate(b.buf.Len() - 1)
	return nil
}

// errReservedEvent is returned when emitting a reserved event name.
var errReservedEvent = errors.New("socketio: reserved event name")

// EncodeEvent encodes an EVENT (or BINARY_EVENT when any argument holds a
// []byte) for namespace nsp. id is the ack id, NoID for none.
func EncodeEvent(nsp string, id int64, event string, args ...any) (*Packet, error) {
	return encodeArray(PacketEvent, nsp, id, event, true, args)
}

// EncodeAck encodes an ACK (or BINARY_ACK) answering ack id id.
func EncodeAck(nsp string, id int64, args ...any) (*Packet, error) {
	return encodeArray(PacketAck, nsp, id, "", false, args)
}

// Encode encodes a packet of any type with an arbitrary payload (nil: none).
// EVENT and ACK payloads must be arrays; use EncodeEvent and EncodeAck.
func Encode(t PacketType, nsp string, id int64, data any) (*Packet, error) {
	b := getBuf()
	defer putBuf(b)
	var att [][]byte
	if data != nil && hasBinary(data) {
		data, att = deconstruct(data, nil)
		if t == PacketEvent {
			t = PacketBinaryEvent
		} else if t == PacketAck {
			t = PacketBinaryAck
		}
	}
	writeHeader(&b.buf, t, len(att), nsp, id)
	if data != nil {
		if err := b.writeJSON(data); err != nil {
			return nil, err
		}
	}
	return &Packet{Type: t, Namespace: nsp, Text: bytes.Clone(b.buf.Bytes()), Attachments: att}, nil
}

func encodeArray(t PacketType, nsp string, id int64, event string, named bool, args []any) (*Packet, error) {
	var att [][]byte
	for _, a := range args {
		if hasBinary(a) {
			args = append([]any(nil), args...)
			for i := range args {
				args[i], att = deconstruct(args[i], att)
			}
			if t == PacketEvent {
				t = PacketBinaryEvent
			} else {
				t = PacketBinaryAck
			}
			break
		}
	}
	b := getBuf()
	defer putBuf(b)
	writeHeader(&b.buf, t, len(att), nsp, id)
	b.buf.WriteByte('[')
	if named {
		if err := b.writeJSON(event); err != nil {
			return nil, err
		}
	}
	for i, a := range args {
		if named || i > 0 {
			b.buf.WriteByte(',')
		}
		if err := b.writeJSON(a); err != nil {
			return nil, err
		}
	}
	b.buf.WriteByte(']')
	return &Packet{Type: t, Namespace: nsp, Text: bytes.Clone(b.buf.Bytes()), Attachments: att, event: event}, nil
}

func writeHeader(buf *bytes.Buffer, t PacketType, attachments int, nsp string, id int64) {
	buf.WriteByte('0' + byte(t))
	if t.binary() {
		var tmp [20]byte
		buf.Write(strconv.AppendInt(tmp[:0], int64(attachments), 10))
		buf.WriteByte('-')
	}
	if nsp != "" && nsp != "/" {
		buf.WriteString(nsp)
		buf.WriteByte(',')
	}
	if id >= 0 {
		var tmp [20]byte
		buf.Write(strconv.AppendInt(tmp[:0], id, 10))
	}
}

// hasBinary reports whether v holds a []byte at the top level or inside
// []any / map[string]any values.
func hasBinary(v any) bool {
	switch x := v.(type) {
	case []byte:
		return true
	case []any:
		for _, e := range x {
			if hasBinary(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if hasBinary(e) {
				return true
			}
		}
	}
	return false
}

// deconstruct returns a copy of v with every []byte replaced by a placeholder,
// appending the bytes to att. The caller's values are not modified.
func deconstruct(v any, att [][]byte) (any, [][]byte) {
	switch x := v.(type) {
	case []byte:
		ph := map[string]any{"_placeholder": true, "num": len(att)}
		return ph, append(att, x)
	case []any:
		if !hasBinary(x) {
			return x, att
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i], att = deconstruct(e, att)
		}
		return out, att
	case map[string]any:
		if !hasBinary(x) {
			return x, att
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k], att = deconstruct(e, att)
		}
		return out, att
	}
	return v, att
}

// Decode returns p as values: its type, namespace and ack id, and its data
// decoded as Decoder does (objects map[string]any, arrays []any, numbers
// float64, attachments []byte in place of their placeholders). A broker
// whose wire format carries packets decoded (the Redis adapter's msgpack)
// uses it; Encode builds a Packet back from them.
func (p *Packet) Decode() (*DecodedPacket, error) {
	d := Decoder{Client: true, MaxAttachments: max(len(p.Attachments), 1)}
	dp, err := d.Add(p.Text, false)
	for _, a := range p.Attachments {
		if err != nil {
			break
		}
		dp, err = d.Add(a, true)
	}
	if err == nil && dp == nil {
		err = perr("attachments missing")
	}
	return dp, err
}

// withAckID returns a copy of p, an EVENT or BINARY_EVENT encoded without
// an ack id, carrying id: the id goes between the header (type,
// attachments, namespace) and the data, so the rest of the encoding is
// shared.
func (p *Packet) withAckID(id int64) (*Packet, error) {
	t := p.Text
	if p.Type != PacketEvent && p.Type != PacketBinaryEvent {
		return nil, fmt.Errorf("socketio: an ack id for a %s packet", p.Type)
	}
	i := 1
	if p.Type.binary() {
		j := bytes.IndexByte(t, '-')
		if j < 0 {
			return nil, perr("illegal attachments")
		}
		i = j + 1
	}
	if i < len(t) && t[i] == '/' {
		j := bytes.IndexByte(t[i:], ',')
		if j < 0 {
			return nil, perr("namespace without ','")
		}
		i += j + 1
	}
	if i >= len(t) || t[i] != '[' {
		return nil, errors.New("socketio: the packet has an ack id already, or no data")
	}
	text := make([]byte, 0, len(t)+20)
	text = append(text, t[:i]...)
	text = strconv.AppendInt(text, id, 10)
	text = append(text, t[i:]...)
	return &Packet{Type: p.Type, Namespace: p.Namespace, Text: text, Attachments: p.Attachments}, nil
}
