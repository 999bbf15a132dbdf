package engineio

import (
	"sync"

	"github.com/eventide/realtime/internal/ws"
)

// Engine.IO packet types.
const (
	typeOpen    = '0'
	typeClose   = '1'
	typePing    = '2'
	typePong    = '3'
	typeMessage = '4'
	typeUpgrade = '5'
	typeNoop    = '6'
)

// Message is an Engine.IO packet prepared once and sendable to many
// connections. The WebSocket frame of each protocol flavour is encoded on
// first use and cached; a Message must not be modified after creation.
type Message struct {
	typ    byte // packet type; typeMessage for user messages
	binary bool
	data   []byte

	textOnce sync.Once
	text     []byte // text frame: type char + data (v3 and v4 alike)
	bin4Once sync.Once
	bin4     []byte // v4 binary frame: data
	bin3Once sync.Once
	bin3     []byte // v3 binary frame: 0x04 + data
}

// TextMessage returns a "message" packet with text payload data (without the
// "4" type character). data must not be modified afterwards.
func TextMessage(data []byte) *Message {
	return &Message{typ: typeMessage, data: data}
}

// BinaryMessage returns a "message" packet with binary payload data. data
// must not be modified afterwards.
func BinaryMessage(data []byte) *Message {
	return &Message{typ: typeMessage, binary: true, data: data}
}

// controlMessage is a packet without user data (ping, pong, noop, close...).
func controlMessage(typ byte, data string) *Message {
	return &Message{typ: typ, data: []byte(data)}
}

// Data returns the payload (without the type character).
func (m *Message) Data() []byte { return m.data }

// IsBinary reports whether the payload is binary.
func (m *Message) IsBinary() bool { return m.binary }

// wsFrame returns the cached WebSocket frame for protocol version proto.
func (m *Message) wsFrame(proto int) []byte {
	if !m.binary {
		m.textOnce.Do(func() {
			b := make([]byte, 0, ws.FrameHeaderLen(len(m.data)+1)+len(m.data)+1)
			b = ws.AppendFrameHeader(b, ws.OpText, len(m.data)+1)
			b = append(b, m.typ)
			m.text = append(b, m.data...)
		})
		return m.text
	}
	if proto == 3 {
		m.bin3Once.Do(func() {
			b := make([]byte, 0, ws.FrameHeaderLen(len(m.data)+1)+len(m.data)+1)
			b = ws.AppendFrameHeader(b, ws.OpBinary, len(m.data)+1)
			b = append(b, m.typ-'0')
			m.bin3 = append(b, m.data...)
		})
		return m.bin3
	}
	m.bin4Once.Do(func() {
		m.bin4 = ws.AppendFrame(make([]byte, 0, ws.FrameHeaderLen(len(m.data))+len(m.data)), ws.OpBinary, m.data)
	})
	return m.bin4
}
