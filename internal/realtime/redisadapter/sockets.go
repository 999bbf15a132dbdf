package redisadapter

import (
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/eventide/realtime/internal/socketio"
)

// nodeSocket is a socket as Node answers fetchSockets: {id, handshake,
// rooms, data}, the handshake being socket.io's (headers lower-cased, time
// as Date.toString, issued in ms, the request url and query).
type nodeSocket struct {
	ID        string        `json:"id"`
	Handshake nodeHandshake `json:"handshake"`
	Rooms     []string      `json:"rooms"`
	Data      any           `json:"data"`
}

type nodeHandshake struct {
	Headers map[string]any `json:"headers"`
	Time    string         `json:"time"`
	Address string         `json:"address"`
	XDomain bool           `json:"xdomain"`
	Secure  bool           `json:"secure"`
	Issued  int64          `json:"issued"`
	URL     string         `json:"url"`
	Query   map[string]any `json:"query"`
	Auth    map[string]any `json:"auth"`
}

// nodeDateLayout is JavaScript's Date.prototype.toString without the time
// zone's long name, which Go does not know.
const nodeDateLayout = "Mon Jan 02 2006 15:04:05 GMT-0700"

// toNodeSocket describes one of this node's sockets as Node does.
func toNodeSocket(si socketio.SocketInfo) nodeSocket {
	hs := si.Handshake
	headers := make(map[string]any, len(hs.Header))
	for k, v := range hs.Header {
		k = strings.ToLower(k)
		if len(v) == 1 || k != "set-cookie" {
			headers[k] = strings.Join(v, ", ")
		} else {
			headers[k] = v
		}
	}
	query := make(map[string]any, len(hs.Query))
	for k, v := range hs.Query {
		if len(v) == 1 {
			query[k] = v[0]
		} else {
			query[k] = v
		}
	}
	auth := hs.Auth
	if auth == nil {
		auth = map[string]any{}
	}
	data := si.Data
	if data == nil {
		data = map[string]any{}
	}
	rooms := si.Rooms
	if rooms == nil {
		rooms = []string{}
	}
	t := hs.Time
	return nodeSocket{
		ID: si.ID,
		Handshake: nodeHandshake{
			Headers: headers,
			Time:    t.Format(nodeDateLayout) + " (" + t.Format("MST") + ")",
			Address: hs.Address,
			XDomain: hs.Header.Get("Origin") != "",
			Secure:  hs.Secure,
			Issued:  t.UnixMilli(),
			URL:     "/socket.io/?" + hs.Query.Encode(),
			Query:   query,
			Auth:    auth,
		},
		Rooms: rooms,
		Data:  data,
	}
}

// fromNodeSocket reads a socket of a fetchSockets answer, decoded into
// map[string]any as encoding/json does.
func fromNodeSocket(v any) (socketio.SocketInfo, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return socketio.SocketInfo{}, fmt.Errorf("redisadapter: socket is %T, not an object", v)
	}
	si := socketio.SocketInfo{Rooms: roomsOf(m["rooms"]), Data: m["data"]}
	si.ID, _ = m["id"].(string)
	hs, _ := m["handshake"].(map[string]any)
	si.Handshake.Header = http.Header{}
	if h, ok := hs["headers"].(map[string]any); ok {
		for k, v := range h {
			ck := textproto.CanonicalMIMEHeaderKey(k)
			switch x := v.(type) {
			case string:
				si.Handshake.Header.Add(ck, x)
			case []any:
				for _, e := range x {
					if s, ok := e.(string); ok {
						si.Handshake.Header.Add(ck, s)
					}
				}
			}
		}
	}
	si.Handshake.Query = url.Values{}
	if q, ok := hs["query"].(map[string]any); ok {
		for k, v := range q {
			switch x := v.(type) {
			case string:
				si.Handshake.Query.Add(k, x)
			case []any:
				for _, e := range x {
					if s, ok := e.(string); ok {
						si.Handshake.Query.Add(k, s)
					}
				}
			}
		}
	}
	si.Handshake.Auth, _ = hs["auth"].(map[string]any)
	if si.Handshake.Auth == nil {
		si.Handshake.Auth = map[string]any{}
	}
	si.Handshake.Address, _ = hs["address"].(string)
	si.Handshake.Secure, _ = hs["secure"].(bool)
	if ms, ok := hs["issued"].(float64); ok {
		si.Handshake.Time = time.UnixMilli(int64(ms))
	}
	if eio := si.Handshake.Query.Get("EIO"); eio == "3" {
		si.Handshake.Protocol = 3
	} else {
		si.Handshake.Protocol = 4
	}
	return si, nil
}
