package redisadapter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/eventide/realtime/internal/socketio"
)

// The wire format of @socket.io/redis-adapter 8.x (and of
// @socket.io/redis-emitter 5.x, which writes the same broadcasts and
// requests).
//
// Broadcasts are published on "<key>#<nsp>#" (several rooms, or none) or
// "<key>#<nsp>#<room>#" (exactly one room, so a node that hosts no socket
// in it drops the message by its channel name), as MessagePack
// [uid, packet, opts]. Requests go to "<key>-request#<nsp>#", responses to
// "<key>-response#<nsp>#" (or "<key>-response#<nsp>#<uid>#", the
// requester's own); both are JSON, or MessagePack when they carry binary
// values (a broadcast with acks, an ack): a JSON one starts with '{'.

// Request types of the classic adapter.
const (
	reqSockets              = 0
	reqAllRooms             = 1
	reqRemoteJoin           = 2
	reqRemoteLeave          = 3
	reqRemoteDisconnect     = 4
	reqRemoteFetch          = 5
	reqServerSideEmit       = 6
	reqBroadcast            = 7
	reqBroadcastClientCount = 8
	reqBroadcastAck         = 9
)

// emitterUID is the uid of @socket.io/redis-emitter's messages.
const emitterUID = "emitter"

// classicChannels are the channels of one namespace.
type classicChannels struct {
	broadcast string // "<key>#<nsp>#", also the prefix of room channels
	request   string
	response  string
	specific  string // this node's own response channel
}

func newClassicChannels(key, nsp, uid string) classicChannels {
	c := classicChannels{
		broadcast: key + "#" + nsp + "#",
		request:   key + "-request#" + nsp + "#",
		response:  key + "-response#" + nsp + "#",
	}
	c.specific = c.response + uid + "#"
	return c
}

// channelFor is where a broadcast to rooms goes.
func (c classicChannels) channelFor(rooms []string) string {
	if len(rooms) == 1 {
		return c.broadcast + rooms[0] + "#"
	}
	return c.broadcast
}

// encodeClassicBroadcast writes [uid, packet, opts] as the classic adapter
// does.
func encodeClassicBroadcast(uid string, b *socketio.Broadcast) ([]byte, error) {
	var buf bytes.Buffer
	enc := newEncoder(&buf)
	if err := enc.EncodeArrayLen(3); err != nil {
		return nil, err
	}
	if err := enc.EncodeString(uid); err != nil {
		return nil, err
	}
	p := b.Packet
	if p.Namespace != b.Namespace && b.Namespace != "" {
		p = socketio.NewPacket(p.Type, b.Namespace, p.Text, p.Attachments)
	}
	if err := writePacket(enc, p, true); err != nil {
		return nil, err
	}
	if err := optsOf(b).writeMsgpack(enc, true); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// classicUID returns the uid of a broadcast message without decoding the
// rest, so a node drops its own messages cheaply.
func classicUID(payload []byte) (string, error) {
	dec := newDecoder(payload)
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return "", err
	}
	if n < 3 {
		return "", errors.New("redisadapter: broadcast message is not [uid, packet, opts]")
	}
	return mapKey(dec)
}

// decodeClassicBroadcast reads [uid, packet, opts].
func decodeClassicBroadcast(payload []byte) (uid string, b *socketio.Broadcast, err error) {
	dec := newDecoder(payload)
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return "", nil, err
	}
	if n < 3 {
		return "", nil, errors.New("redisadapter: broadcast message is not [uid, packet, opts]")
	}
	if uid, err = mapKey(dec); err != nil {
		return "", nil, err
	}
	p, err := readPacket(dec, "/")
	if err != nil {
		return uid, nil, err
	}
	o, err := readOpts(dec)
	if err != nil {
		return uid, nil, fmt.Errorf("redisadapter: opts: %w", err)
	}
	return uid, broadcastOf(p, o), nil
}

func broadcastOf(p *socketio.Packet, o wireOpts) *socketio.Broadcast {
	return &socketio.Broadcast{
		Namespace: p.Namespace,
		Packet:    p,
		Rooms:     o.Rooms,
		Except:    o.Except,
		Flags:     socketio.BroadcastFlags{Volatile: o.Volatile},
		Stream:    o.Stream,
		Seq:       o.Seq,
		Offset:    o.Offset,
	}
}

// classicRequest is a request on the request channel, or a response on a
// response channel: one struct for every type, as Node's are one object.
type classicRequest struct {
	UID       string
	RequestID string
	Type      int
	Opts      *wireOpts
	Rooms     roomList // REMOTE_JOIN/LEAVE: the rooms to join/leave; SOCKETS: the selection
	SID       string   // REMOTE_JOIN/LEAVE/DISCONNECT of one socket (adapters before 7.x)
	Room      string
	Close     *bool
	Data      any // SERVER_SIDE_EMIT: [event, ...args]; its response: the reply

	// Only in MessagePack (BROADCAST) and responses.
	Packet      *socketio.Packet
	Reply       any // BROADCAST_ACK's packet
	ClientCount *int
	Sockets     []any
	AllRooms    roomList // ALL_ROOMS response's rooms
}

// decodeClassicRequest reads a request or response, JSON or MessagePack.
func decodeClassicRequest(payload []byte, nsp string) (*classicRequest, error) {
	if len(payload) > 0 && payload[0] == '{' {
		return decodeClassicJSON(payload)
	}
	return decodeClassicMsgpack(payload, nsp)
}

func decodeClassicJSON(payload []byte) (*classicRequest, error) {
	var raw struct {
		UID         string          `json:"uid"`
		RequestID   string          `json:"requestId"`
		Type        *int            `json:"type"`
		Opts        *wireOpts       `json:"opts"`
		Rooms       json.RawMessage `json:"rooms"`
		SID         string          `json:"sid"`
		Room        string          `json:"room"`
		Close       *bool           `json:"close"`
		Data        json.RawMessage `json:"data"`
		ClientCount *int            `json:"clientCount"`
		Sockets     []any           `json:"sockets"`
		Packet      json.RawMessage `json:"packet"`
	}
	if err := json.Unmarshal(payload, &raw); err != nil {
		return nil, err
	}
	r := &classicRequest{UID: raw.UID, RequestID: raw.RequestID, Type: -1, Opts: raw.Opts, SID: raw.SID,
		Room: raw.Room, Close: raw.Close, ClientCount: raw.ClientCount, Sockets: raw.Sockets}
	if raw.Type != nil {
		r.Type = *raw.Type
	}
	if len(raw.Rooms) > 0 {
		if err := json.Unmarshal(raw.Rooms, &r.Rooms); err != nil {
			return nil, fmt.Errorf("redisadapter: rooms: %w", err)
		}
		r.AllRooms = r.Rooms
	}
	if len(raw.Data) > 0 {
		if err := json.Unmarshal(raw.Data, &r.Data); err != nil {
			return nil, err
		}
	}
	if len(raw.Packet) > 0 {
		if err := json.Unmarshal(raw.Packet, &r.Reply); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func decodeClassicMsgpack(payload []byte, nsp string) (*classicRequest, error) {
	dec := newDecoder(payload)
	r := &classicRequest{Type: -1}
	err := readObject(dec, func(key string) error {
		var err error
		switch key {
		case "uid":
			r.UID, err = mapKey(dec)
		case "requestId":
			r.RequestID, err = mapKey(dec)
		case "type":
			var t int64
			t, err = dec.DecodeInt64()
			r.Type = int(t)
		case "opts":
			var o wireOpts
			o, err = readOpts(dec)
			r.Opts = &o
		case "packet":
			// A BROADCAST's packet is a Socket.IO packet; a
			// BROADCAST_ACK's is the client's ack argument. The
			// type may come after, so keep the raw value.
			var raw msgpack.RawMessage
			if raw, err = dec.DecodeRaw(); err == nil {
				r.Reply, err = decodeValue(newDecoder(raw), 0)
				if err == nil {
					if p, perr := readPacket(newDecoder(raw), nsp); perr == nil {
						r.Packet = p
					}
				}
			}
		case "rooms":
			r.Rooms, err = readRooms(dec)
			r.AllRooms = r.Rooms
		case "sid":
			r.SID, err = mapKey(dec)
		case "room":
			r.Room, err = mapKey(dec)
		case "close":
			var c bool
			c, err = dec.DecodeBool()
			r.Close = &c
		case "data":
			r.Data, err = decodeValue(dec, 0)
		case "clientCount":
			var n int64
			n, err = dec.DecodeInt64()
			c := int(n)
			r.ClientCount = &c
		case "sockets":
			var v any
			v, err = decodeValue(dec, 0)
			r.Sockets, _ = v.([]any)
		default:
			err = dec.Skip()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// The requests this node sends, in the order of Node's keys, so a Node
// node reads them as its own.

type fetchRequest struct {
	UID       string   `json:"uid"`
	RequestID string   `json:"requestId"`
	Type      int      `json:"type"`
	Opts      wireOpts `json:"opts"`
}

type allRoomsRequest struct {
	UID       string `json:"uid"`
	RequestID string `json:"requestId"`
	Type      int    `json:"type"`
}

type joinRequest struct {
	UID   string   `json:"uid"`
	Type  int      `json:"type"`
	Opts  wireOpts `json:"opts"`
	Rooms []string `json:"rooms"`
}

type disconnectRequest struct {
	UID   string   `json:"uid"`
	Type  int      `json:"type"`
	Opts  wireOpts `json:"opts"`
	Close bool     `json:"close"`
}

type serverSideEmitRequest struct {
	UID       string `json:"uid"`
	RequestID string `json:"requestId,omitempty"`
	Type      int    `json:"type"`
	Data      []any  `json:"data"`
}

// The responses this node sends.

type socketsResponse struct {
	RequestID string   `json:"requestId"`
	Sockets   []string `json:"sockets"`
}

type allRoomsResponse struct {
	RequestID string   `json:"requestId"`
	Rooms     []string `json:"rooms"`
}

type fetchResponse struct {
	RequestID string       `json:"requestId"`
	Sockets   []nodeSocket `json:"sockets"`
}

type doneResponse struct {
	RequestID string `json:"requestId"`
}

type serverSideEmitResponse struct {
	Type      int    `json:"type"`
	RequestID string `json:"requestId"`
	Data      any    `json:"data"`
}

type clientCountResponse struct {
	Type        int    `json:"type"`
	RequestID   string `json:"requestId"`
	ClientCount int    `json:"clientCount"`
}

// encodeBroadcastRequest writes a broadcast with acks (MessagePack, as it
// may carry binary values): {uid, requestId, type, packet, opts}.
func encodeBroadcastRequest(uid, requestID string, b *socketio.Broadcast, timeoutMS int64) ([]byte, error) {
	var buf bytes.Buffer
	enc := newEncoder(&buf)
	if err := enc.EncodeMapLen(5); err != nil {
		return nil, err
	}
	for _, kv := range [][2]string{{"uid", uid}, {"requestId", requestID}} {
		if err := enc.EncodeString(kv[0]); err != nil {
			return nil, err
		}
		if err := enc.EncodeString(kv[1]); err != nil {
			return nil, err
		}
	}
	if err := encodeKV(enc, "type", reqBroadcast); err != nil {
		return nil, err
	}
	if err := enc.EncodeString("packet"); err != nil {
		return nil, err
	}
	p := b.Packet
	if p.Namespace != b.Namespace && b.Namespace != "" {
		p = socketio.NewPacket(p.Type, b.Namespace, p.Text, p.Attachments)
	}
	if err := writePacket(enc, p, true); err != nil {
		return nil, err
	}
	if err := enc.EncodeString("opts"); err != nil {
		return nil, err
	}
	o := optsOf(b)
	o.Timeout = timeoutMS
	if err := o.writeMsgpack(enc, true); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// encodeBroadcastAck writes a client's ack for a broadcast with acks
// (MessagePack): {type: 9, requestId, packet: the ack's first argument}.
func encodeBroadcastAck(requestID string, reply any) ([]byte, error) {
	var buf bytes.Buffer
	enc := newEncoder(&buf)
	if err := enc.EncodeMapLen(3); err != nil {
		return nil, err
	}
	if err := encodeKV(enc, "type", reqBroadcastAck); err != nil {
		return nil, err
	}
	if err := enc.EncodeString("requestId"); err != nil {
		return nil, err
	}
	if err := enc.EncodeString(requestID); err != nil {
		return nil, err
	}
	if err := enc.EncodeString("packet"); err != nil {
		return nil, err
	}
	if err := encodeValue(enc, reply, 0); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
