package redisadapter

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/eventide/realtime/internal/socketio"
)

// The wire format of @socket.io/redis-streams-adapter 0.3 (socket.io-adapter's
// ClusterAdapter messages).
//
// What must survive a Redis outage and be replayable for connection-state
// recovery goes into the stream "<streamName>" with XADD ... MAXLEN ~ N,
// one entry per message with the fields uid, nsp, type (the message type as
// decimal text) and data: JSON text, or, when the data holds binary values,
// base64 of its MessagePack. Broadcasts without acks and socketsJoin/
// socketsLeave/disconnectSockets go there; the entry id is the broadcast's
// offset. The rest (requests and broadcasts that wait for answers) is
// published as MessagePack {type, data, uid, nsp} on "<prefix>#<nsp>#", and
// answers on the requester's "<prefix>#<nsp>#<uid>#".
//
// A recoverable session is kept under "<sessionKeyPrefix><pid>" (default
// "sio:session:"), as base64 of the MessagePack {sid, pid, rooms, data},
// with SET ... PX <recovery window>.

// Message types of socket.io-adapter's ClusterAdapter.
const (
	msgInitialHeartbeat        = 1
	msgHeartbeat               = 2
	msgBroadcast               = 3
	msgSocketsJoin             = 4
	msgSocketsLeave            = 5
	msgDisconnectSockets       = 6
	msgFetchSockets            = 7
	msgFetchSocketsResponse    = 8
	msgServerSideEmit          = 9
	msgServerSideEmitResponse  = 10
	msgBroadcastClientCount    = 11
	msgBroadcastAck            = 12
	msgAdapterClose            = 13
	streamsDefaultSessionPrefx = "sio:session:"
)

// clusterMessage is a ClusterAdapter message or response, with the fields
// of its data that eventide reads.
type clusterMessage struct {
	UID  string
	Nsp  string
	Type int

	RequestID   string
	Packet      *socketio.Packet // BROADCAST
	Opts        wireOpts         // BROADCAST, SOCKETS_JOIN/LEAVE, DISCONNECT_SOCKETS, FETCH_SOCKETS
	Rooms       []string         // SOCKETS_JOIN/LEAVE
	Close       bool             // DISCONNECT_SOCKETS
	Args        []any            // SERVER_SIDE_EMIT: [event, ...args]
	Reply       any              // SERVER_SIDE_EMIT_RESPONSE, BROADCAST_ACK
	ClientCount int              // BROADCAST_CLIENT_COUNT
	Sockets     []any            // FETCH_SOCKETS_RESPONSE
	Offset      string           // the stream entry id, for messages read from the stream
}

// streamEntry is what XADD writes for a message.
type streamEntry struct {
	UID, Nsp, Type, Data string
}

// values returns the XADD field-value list, in Node's order.
func (e streamEntry) values() []any {
	v := []any{"uid", e.UID, "nsp", e.Nsp, "type", e.Type}
	if e.Data != "" {
		v = append(v, "data", e.Data)
	}
	return v
}

// broadcastEntry encodes a broadcast for the stream.
func broadcastEntry(uid string, b *socketio.Broadcast) (streamEntry, error) {
	e := streamEntry{UID: uid, Nsp: b.Namespace, Type: strconv.Itoa(msgBroadcast)}
	o := optsOf(b)
	o.Offset = "" // an entry's offset is its id
	if data, ok, err := packetJSONData(b.Packet); err != nil {
		return e, err
	} else if ok {
		buf := append([]byte(nil), `{"packet":{"type":`...)
		buf = strconv.AppendInt(buf, int64(nodeType(b.Packet.Type)), 10)
		if len(data) > 0 {
			buf = append(buf, `,"data":`...)
			buf = append(buf, data...)
		}
		buf = append(buf, `},"opts":`...)
		buf = o.appendJSON(buf, true)
		e.Data = string(append(buf, '}'))
		return e, nil
	}
	var buf bytes.Buffer
	enc := newEncoder(&buf)
	if err := enc.EncodeMapLen(2); err != nil {
		return e, err
	}
	if err := enc.EncodeString("packet"); err != nil {
		return e, err
	}
	if err := writePacket(enc, b.Packet, false); err != nil {
		return e, err
	}
	if err := enc.EncodeString("opts"); err != nil {
		return e, err
	}
	if err := o.writeMsgpack(enc, true); err != nil {
		return e, err
	}
	e.Data = base64.StdEncoding.EncodeToString(buf.Bytes())
	return e, nil
}

// roomsEntry encodes socketsJoin (msgSocketsJoin) or socketsLeave for the
// stream: {"opts":{rooms,except,flags},"rooms":[...]}.
func roomsEntry(uid, nsp string, typ int, sel socketio.Selector, rooms []string) streamEntry {
	o := wireOpts{Rooms: sel.Rooms, Except: sel.Except}
	buf := append([]byte(nil), `{"opts":`...)
	buf = o.appendJSON(buf, true)
	buf = append(buf, `,"rooms":`...)
	buf = appendStrings(buf, rooms)
	return streamEntry{UID: uid, Nsp: nsp, Type: strconv.Itoa(typ), Data: string(append(buf, '}'))}
}

// disconnectEntry encodes disconnectSockets for the stream.
func disconnectEntry(uid, nsp string, sel socketio.Selector, close bool) streamEntry {
	o := wireOpts{Rooms: sel.Rooms, Except: sel.Except}
	buf := append([]byte(nil), `{"opts":`...)
	buf = o.appendJSON(buf, true)
	buf = append(buf, `,"close":`...)
	buf = strconv.AppendBool(buf, close)
	return streamEntry{UID: uid, Nsp: nsp, Type: strconv.Itoa(msgDisconnectSockets), Data: string(append(buf, '}'))}
}

// decodeEntry reads a stream entry's fields (as XREAD returns them).
func decodeEntry(id string, fields map[string]any) (*clusterMessage, error) {
	str := func(k string) string { s, _ := fields[k].(string); return s }
	t, err := strconv.Atoi(str("type"))
	if err != nil {
		return nil, fmt.Errorf("redisadapter: entry %s: type %q", id, str("type"))
	}
	m := &clusterMessage{UID: str("uid"), Nsp: str("nsp"), Type: t, Offset: id}
	data := str("data")
	if data == "" {
		return m, nil
	}
	if data[0] == '{' {
		return m, m.readJSONData([]byte(data))
	}
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, fmt.Errorf("redisadapter: entry %s: data: %w", id, err)
	}
	return m, m.readData(newDecoder(raw))
}

// readJSONData reads a message's data written as JSON (no binary values).
func (m *clusterMessage) readJSONData(data []byte) error {
	var raw struct {
		Packet *struct {
			Type int             `json:"type"`
			Data json.RawMessage `json:"data"`
			ID   *int64          `json:"id"`
			Nsp  string          `json:"nsp"`
		} `json:"packet"`
		Opts      *wireOpts `json:"opts"`
		Rooms     roomList  `json:"rooms"`
		Close     bool      `json:"close"`
		RequestID string    `json:"requestId"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("redisadapter: message data: %w", err)
	}
	if raw.Opts != nil {
		m.Opts = *raw.Opts
	}
	m.Rooms, m.Close, m.RequestID = raw.Rooms, raw.Close, raw.RequestID
	if p := raw.Packet; p != nil {
		id := socketio.NoID
		if p.ID != nil {
			id = *p.ID
		}
		nsp := p.Nsp
		if nsp == "" {
			nsp = m.Nsp
		}
		t := socketio.PacketType(p.Type)
		text := appendHeader(nil, t, 0, nsp, id)
		m.Packet = socketio.NewPacket(t, nsp, append(text, p.Data...), nil)
	}
	return nil
}

// readData reads a message's data from MessagePack.
func (m *clusterMessage) readData(dec *msgpack.Decoder) error {
	return readObject(dec, func(key string) error {
		var err error
		switch key {
		case "packet":
			var raw msgpack.RawMessage
			if raw, err = dec.DecodeRaw(); err != nil {
				return err
			}
			if m.Type == msgBroadcast {
				m.Packet, err = readPacket(newDecoder(raw), m.Nsp)
			} else {
				m.Reply, err = decodeValue(newDecoder(raw), 0)
				if arr, ok := m.Reply.([]any); ok {
					m.Args = arr
				}
			}
		case "opts":
			m.Opts, err = readOpts(dec)
		case "rooms":
			m.Rooms, err = readRooms(dec)
		case "close":
			m.Close, err = dec.DecodeBool()
		case "requestId":
			m.RequestID, err = mapKey(dec)
		case "clientCount":
			var n int64
			n, err = dec.DecodeInt64()
			m.ClientCount = int(n)
		case "sockets":
			var v any
			v, err = decodeValue(dec, 0)
			m.Sockets, _ = v.([]any)
		default:
			err = dec.Skip()
		}
		return err
	})
}

// decodeClusterMessage reads a message published on a channel:
// MessagePack {type, data, uid, nsp}. The type may come after data, so
// data is read once the whole map is.
func decodeClusterMessage(payload []byte) (*clusterMessage, error) {
	dec := newDecoder(payload)
	m := &clusterMessage{Type: -1}
	var data msgpack.RawMessage
	err := readObject(dec, func(key string) error {
		var err error
		switch key {
		case "uid":
			m.UID, err = mapKey(dec)
		case "nsp":
			m.Nsp, err = dec.DecodeString()
		case "type":
			var t int64
			t, err = dec.DecodeInt64()
			m.Type = int(t)
		case "data":
			data, err = dec.DecodeRaw()
		default:
			err = dec.Skip()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if m.Type < 0 {
		return nil, errors.New("redisadapter: message without type")
	}
	if len(data) > 0 {
		if err := m.readData(newDecoder(data)); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// encodeClusterMessage writes {type, data, uid, nsp}; writeData writes the
// data object (nil: none).
func encodeClusterMessage(typ int, uid, nsp string, writeData func(enc *msgpack.Encoder) error) ([]byte, error) {
	var buf bytes.Buffer
	enc := newEncoder(&buf)
	n := 3
	if writeData != nil {
		n++
	}
	if err := enc.EncodeMapLen(n); err != nil {
		return nil, err
	}
	if err := encodeKV(enc, "type", int64(typ)); err != nil {
		return nil, err
	}
	if writeData != nil {
		if err := enc.EncodeString("data"); err != nil {
			return nil, err
		}
		if err := writeData(enc); err != nil {
			return nil, err
		}
	}
	for _, kv := range [][2]string{{"uid", uid}, {"nsp", nsp}} {
		if err := enc.EncodeString(kv[0]); err != nil {
			return nil, err
		}
		if err := enc.EncodeString(kv[1]); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// mapWriter writes a data object of known keys, in order.
type field struct {
	key string
	v   any // string, int64, bool, []string, wireOpts, *socketio.Packet, or any value for encodeValue
}

func writeFields(fields ...field) func(enc *msgpack.Encoder) error {
	return func(enc *msgpack.Encoder) error {
		if err := enc.EncodeMapLen(len(fields)); err != nil {
			return err
		}
		for _, f := range fields {
			if err := enc.EncodeString(f.key); err != nil {
				return err
			}
			var err error
			switch v := f.v.(type) {
			case string:
				err = enc.EncodeString(v)
			case int64:
				err = enc.EncodeInt(v)
			case wireOpts:
				err = v.writeMsgpack(enc, true)
			case *socketio.Packet:
				err = writePacket(enc, v, false)
			default:
				err = encodeValue(enc, v, 0)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
}

// Session is a socket's state kept for connection-state recovery
// (socketio.Session: sid, pid, rooms with its own id, data), written in the
// streams adapter's format: what socket.io persists.
type Session = socketio.Session

// encodeSession writes the value of "<sessionKeyPrefix><pid>": base64 of the
// MessagePack {sid, pid, rooms, data}.
func encodeSession(s Session) (string, error) {
	var buf bytes.Buffer
	enc := newEncoder(&buf)
	data := s.Data
	if data == nil {
		data = map[string]any{}
	}
	rooms := s.Rooms
	if rooms == nil {
		rooms = []string{}
	}
	if err := writeFields(field{"sid", s.SID}, field{"pid", s.PID}, field{"rooms", rooms}, field{"data", data})(enc); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// decodeSession reads a session written by encodeSession or by Node.
func decodeSession(value string) (Session, error) {
	raw, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return Session{}, fmt.Errorf("redisadapter: session: %w", err)
	}
	v, err := decodeValue(newDecoder(raw), 0)
	if err != nil {
		return Session{}, fmt.Errorf("redisadapter: session: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return Session{}, errors.New("redisadapter: session is not an object")
	}
	s := Session{Rooms: roomsOf(m["rooms"]), Data: m["data"]}
	s.SID, _ = m["sid"].(string)
	s.PID, _ = m["pid"].(string)
	return s, nil
}

// xaddArgs is the XADD command of an entry, as the streams adapter sends
// it: XADD <stream> MAXLEN ~ <maxLen> * uid .. nsp .. type .. data ..
func xaddArgs(stream string, maxLen int64, e streamEntry) []any {
	return append([]any{"XADD", stream, "MAXLEN", "~", maxLen, "*"}, e.values()...)
}

// sessionSetArgs is the SET command that keeps a session for ttlMS.
func sessionSetArgs(prefix, pid, value string, ttlMS int64) []any {
	return []any{"SET", prefix + pid, value, "PX", ttlMS}
}
