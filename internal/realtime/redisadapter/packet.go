package redisadapter

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/eventide/realtime/internal/socketio"
)

// The Node adapters carry a broadcast's packet as the object socket.io
// hands its adapter, before socket.io-parser encodes it for clients:
// {type: 2, data: ["event", ...args], nsp: "/"} with Buffers where the
// arguments have binary values. An EVENT stays type 2 whether or not it has
// binary values; the parser makes it a BINARY_EVENT when it encodes it.
// Eventide carries an encoded socketio.Packet (text and attachments), so
// each side translates: this file.

// nodeType is the packet type Node's adapters put in the packet object: the
// plain type, binary or not.
func nodeType(t socketio.PacketType) int {
	switch t {
	case socketio.PacketBinaryEvent:
		return int(socketio.PacketEvent)
	case socketio.PacketBinaryAck:
		return int(socketio.PacketAck)
	}
	return int(t)
}

// textParts splits an encoded packet's text into its header fields and its
// JSON data, as socket.io-parser writes them:
// <type>[<attachments>-][<nsp>,][<id>][<json>].
type textParts struct {
	typ  socketio.PacketType
	nsp  string
	id   int64
	data []byte
}

func splitText(text []byte) (textParts, error) {
	p := textParts{nsp: "/", id: socketio.NoID}
	if len(text) == 0 || text[0] < '0' || text[0] > '6' {
		return p, errors.New("redisadapter: not a Socket.IO packet")
	}
	p.typ = socketio.PacketType(text[0] - '0')
	i := 1
	if p.typ == socketio.PacketBinaryEvent || p.typ == socketio.PacketBinaryAck {
		j := bytes.IndexByte(text[i:], '-')
		if j < 0 {
			return p, errors.New("redisadapter: binary packet without attachment count")
		}
		i += j + 1
	}
	if i < len(text) && text[i] == '/' {
		j := bytes.IndexByte(text[i:], ',')
		if j < 0 {
			p.nsp = string(text[i:])
			return p, nil
		}
		p.nsp = string(text[i : i+j])
		i += j + 1
	}
	start := i
	for i < len(text) && text[i] >= '0' && text[i] <= '9' {
		i++
	}
	if i > start {
		id, err := strconv.ParseInt(string(text[start:i]), 10, 64)
		if err != nil {
			return p, fmt.Errorf("redisadapter: bad ack id: %w", err)
		}
		p.id = id
	}
	p.data = text[i:]
	return p, nil
}

// writePacket writes p as Node's packet object: {type, data, nsp} (withNsp,
// the classic adapter and the emitter) or {type, data} (the streams
// adapter), with "id" after data when p has an ack id.
func writePacket(enc *msgpack.Encoder, p *socketio.Packet, withNsp bool) error {
	parts, err := splitText(p.Text)
	if err != nil {
		return err
	}
	fields := 1
	var data jnode
	if len(parts.data) > 0 {
		if data, err = parseJSON(parts.data); err != nil {
			return fmt.Errorf("redisadapter: packet data: %w", err)
		}
		fields++
	}
	if parts.id != socketio.NoID {
		fields++
	}
	if withNsp {
		fields++
	}
	if err := enc.EncodeMapLen(fields); err != nil {
		return err
	}
	if err := encodeKV(enc, "type", int64(nodeType(parts.typ))); err != nil {
		return err
	}
	if len(parts.data) > 0 {
		att := p.Attachments
		if att == nil {
			att = [][]byte{}
		}
		if err := enc.EncodeString("data"); err != nil {
			return err
		}
		if err := data.writeMsgpack(enc, att); err != nil {
			return err
		}
	}
	if parts.id != socketio.NoID {
		if err := encodeKV(enc, "id", parts.id); err != nil {
			return err
		}
	}
	if withNsp {
		if err := enc.EncodeString("nsp"); err != nil {
			return err
		}
		nsp := p.Namespace
		if nsp == "" {
			nsp = parts.nsp
		}
		return enc.EncodeString(nsp)
	}
	return nil
}

func encodeKV(enc *msgpack.Encoder, key string, v int64) error {
	if err := enc.EncodeString(key); err != nil {
		return err
	}
	return enc.EncodeInt(v)
}

// readPacket reads Node's packet object into an encoded packet, as
// socket.io-parser's Encoder would encode it for clients. nsp is the
// namespace to assume when the object has none ("/" for the classic
// adapter, as Node does; the message's for the streams adapter).
func readPacket(dec *msgpack.Decoder, nsp string) (*socketio.Packet, error) {
	n, err := dec.DecodeMapLen()
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, errors.New("redisadapter: packet is nil")
	}
	typ, id := int64(socketio.PacketEvent), socketio.NoID
	var w jsonWriter
	w.placeholders = true
	hasData := false
	for i := 0; i < n; i++ {
		key, err := mapKey(dec)
		if err != nil {
			return nil, err
		}
		switch key {
		case "type":
			if typ, err = dec.DecodeInt64(); err != nil {
				return nil, fmt.Errorf("redisadapter: packet type: %w", err)
			}
		case "id":
			if id, err = dec.DecodeInt64(); err != nil {
				return nil, fmt.Errorf("redisadapter: packet id: %w", err)
			}
		case "nsp":
			if nsp, err = dec.DecodeString(); err != nil {
				return nil, fmt.Errorf("redisadapter: packet nsp: %w", err)
			}
		case "data":
			undef, err := w.value(dec, 0)
			if err != nil {
				return nil, fmt.Errorf("redisadapter: packet data: %w", err)
			}
			hasData = !undef
		default:
			if err := dec.Skip(); err != nil {
				return nil, err
			}
		}
	}
	if typ < 0 || typ > int64(socketio.PacketBinaryAck) {
		return nil, fmt.Errorf("redisadapter: packet type %d", typ)
	}
	if nsp == "" {
		nsp = "/"
	}
	if nsp[0] != '/' || strings.IndexByte(nsp, ',') >= 0 {
		return nil, fmt.Errorf("redisadapter: packet namespace %q", nsp)
	}
	t := socketio.PacketType(typ)
	switch {
	case t == socketio.PacketBinaryEvent && len(w.att) == 0:
		t = socketio.PacketEvent
	case t == socketio.PacketEvent && len(w.att) > 0:
		t = socketio.PacketBinaryEvent
	case t == socketio.PacketBinaryAck && len(w.att) == 0:
		t = socketio.PacketAck
	case t == socketio.PacketAck && len(w.att) > 0:
		t = socketio.PacketBinaryAck
	}
	text := appendHeader(nil, t, len(w.att), nsp, id)
	if hasData {
		text = append(text, w.buf...)
	}
	return socketio.NewPacket(t, nsp, text, w.att), nil
}

// appendHeader writes a packet's header as socket.io-parser does.
func appendHeader(b []byte, t socketio.PacketType, attachments int, nsp string, id int64) []byte {
	b = append(b, '0'+byte(t))
	if t == socketio.PacketBinaryEvent || t == socketio.PacketBinaryAck {
		b = strconv.AppendInt(b, int64(attachments), 10)
		b = append(b, '-')
	}
	if nsp != "" && nsp != "/" {
		b = append(b, nsp...)
		b = append(b, ',')
	}
	if id >= 0 {
		b = strconv.AppendInt(b, id, 10)
	}
	return b
}

// packetJSONData returns the JSON of p's data array when p has no binary
// attachment (the streams adapter sends such a packet as JSON text); ok is
// false when it has attachments.
func packetJSONData(p *socketio.Packet) (data []byte, ok bool, err error) {
	if len(p.Attachments) > 0 {
		return nil, false, nil
	}
	parts, err := splitText(p.Text)
	if err != nil {
		return nil, false, err
	}
	return parts.data, true, nil
}
