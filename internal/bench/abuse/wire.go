package abuse

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

// The wire formats the attacks speak by hand: HTTP/1.1 requests, the
// WebSocket upgrade and frames, the Engine.IO polling handshake.

// pollingHandshake opens an Engine.IO v4 polling session on nc and returns
// its sid.
func pollingHandshake(nc net.Conn, br *bufio.Reader, host string) (string, error) {
	if _, err := io.WriteString(nc, "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: "+host+"\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return "", err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK || len(body) == 0 || body[0] != '0' {
		return "", fmt.Errorf("handshake answered %d", resp.StatusCode)
	}
	var open struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(body[1:], &open); err != nil || open.SID == "" {
		return "", fmt.Errorf("handshake: no sid in %.80q", body)
	}
	return open.SID, nil
}

// statusOf shortens an HTTP status line to "HTTP 431".
func statusOf(line string) string {
	f := strings.Fields(line)
	if len(f) >= 2 && strings.HasPrefix(f[0], "HTTP/") {
		return "HTTP " + f[1]
	}
	return fmt.Sprintf("%.40q", line)
}

// readFrame reads one server frame; payloads over keep bytes are
// discarded, not returned.
func readFrame(br *bufio.Reader, keep int64) (op byte, payload []byte, err error) {
	var hdr [2]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return 0, nil, err
	}
	op = hdr[0] & 0x0f
	n := int64(hdr[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			return 0, nil, err
		}
		n = int64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			return 0, nil, err
		}
		n = int64(binary.BigEndian.Uint64(ext[:]) & (1<<63 - 1))
	}
	if hdr[1]&0x80 != 0 { // a masked server frame: skip the key
		if _, err := br.Discard(4); err != nil {
			return 0, nil, err
		}
	}
	if n > keep {
		_, err = io.CopyN(io.Discard, br, n)
		return op, nil, err
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(br, payload)
	return op, payload, err
}

// frameHeader is the header of one final, masked client frame announcing n
// payload bytes (the payload itself is up to the caller).
func frameHeader(op byte, n int64) []byte {
	b := []byte{0x80 | op}
	switch {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	var key [4]byte
	_, _ = rand.Read(key[:])
	return append(b, key[:]...)
}

// upgrade sends a WebSocket upgrade request for path on nc and reads the
// answer; the reader it returns holds what followed the 101.
func upgrade(nc net.Conn, host, path string) (*bufio.Reader, *http.Response, error) {
	var key [16]byte
	_, _ = rand.Read(key[:])
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key[:]) + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		return nil, nil, err
	}
	br := bufio.NewReaderSize(nc, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
	}
	return br, resp, nil
}

func splitWS(raw string) (host, path string) {
	rest := strings.TrimPrefix(raw, "ws://")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[:i], rest[i:]
	}
	return rest, "/"
}
