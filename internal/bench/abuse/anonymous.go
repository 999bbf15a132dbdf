package abuse

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// The attacks of rows 1-5: clients without a token, on raw connections.

// stalledPost: row 1. A polling session POSTs a body it never finishes.
func (e *env) stalledPost(ctx context.Context, h *holder, partial bool) {
	nc, err := e.d.dial(ctx)
	if err != nil {
		h.fail("dial", err)
		return
	}
	br := bufio.NewReader(nc)
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	sid, err := pollingHandshake(nc, br, e.d.addr)
	if err != nil {
		nc.Close()
		h.fail("handshake", err)
		return
	}
	hdr := "POST /socket.io/?EIO=4&transport=polling&sid=" + sid + " HTTP/1.1\r\nHost: " + e.d.addr +
		"\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: " + strconv.Itoa(e.o.PostBytes) + "\r\n\r\n"
	if _, err := io.WriteString(nc, hdr); err != nil {
		nc.Close()
		h.fail("POST headers", err)
		return
	}
	if partial {
		// The body but its last byte; the server reads it while we write.
		if n, err := nc.Write(e.filler(e.o.PostBytes - 1)); err != nil {
			h.count(fmt.Sprintf("body stopped after %d KiB: %s", n>>10, errClass(err)))
			nc.Close()
			return
		}
	}
	_ = nc.SetDeadline(time.Time{})
	if partial {
		h.count("POST sent, all but 1 byte of the body")
	} else {
		h.count("POST headers sent, no body")
	}
	h.hold(nc, br, "http")
}

// bigHeader: row 2. A polling handshake with a huge header, written in
// chunks so that what the server took before refusing is known; the
// connection is closed as soon as the answer is read.
func (e *env) bigHeader(ctx context.Context, h *holder) {
	nc, err := e.d.dial(ctx)
	if err != nil {
		h.fail("dial", err)
		return
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(nc)
	// Read the answer while writing: a server that refuses early answers
	// before the header is complete.
	answer := make(chan string, 1)
	go func() {
		line, err := br.ReadString('\n')
		if line != "" {
			answer <- statusOf(line)
			return
		}
		answer <- errClass(err)
	}()
	head := "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: " + e.d.addr + "\r\nX-Abuse-Pad: "
	written, werr := io.WriteString(nc, head)
	pad := e.filler(e.o.HeaderBytes)
	for off := 0; werr == nil && off < len(pad); off += 64 << 10 {
		var n int
		n, werr = nc.Write(pad[off:min(off+64<<10, len(pad))])
		written += n
	}
	if werr == nil {
		var n int
		n, werr = io.WriteString(nc, "\r\n\r\n")
		written += n
	}
	got := <-answer
	if werr != nil {
		h.count(fmt.Sprintf("%s after the server took %d KiB of the header (%s)", got, written>>10, errClass(werr)))
		return
	}
	h.count(fmt.Sprintf("%s, whole %d KiB header sent", got, written>>10))
}

// idleHTTP: row 3. One GET /healthz, then nothing. The answer is read by
// the watcher, so that connections the server has not accepted (out of
// descriptors) are held as well.
func (e *env) idleHTTP(ctx context.Context, h *holder) {
	nc, err := e.d.dial(ctx)
	if err != nil {
		h.fail("dial", err)
		return
	}
	if _, err := io.WriteString(nc, "GET /healthz HTTP/1.1\r\nHost: "+e.d.addr+"\r\n\r\n"); err != nil {
		nc.Close()
		h.fail("GET /healthz", err)
		return
	}
	h.count("GET /healthz sent")
	h.hold(nc, bufio.NewReader(nc), "http")
}

// wsFrame: row 4. A Socket.IO WebSocket sends a frame header announcing
// the largest message the server accepts, and nothing more: no payload, no
// CONNECT.
func (e *env) wsFrame(ctx context.Context, h *holder) {
	nc, err := e.d.dial(ctx)
	if err != nil {
		h.fail("dial", err)
		return
	}
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	br, resp, err := upgrade(nc, e.d.addr, "/socket.io/?EIO=4&transport=websocket")
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
		if err == nil {
			h.count(fmt.Sprintf("upgrade refused: HTTP %d", resp.StatusCode))
		} else {
			h.fail("upgrade", err)
		}
		return
	}
	// The open packet says how large a message may be.
	announce := int64(1_000_000)
	if op, p, err := readFrame(br, 4096); err == nil && op == 0x1 && len(p) > 1 && p[0] == '0' {
		var open struct {
			MaxPayload int64 `json:"maxPayload"`
		}
		if json.Unmarshal(p[1:], &open) == nil && open.MaxPayload > 0 {
			announce = open.MaxPayload
		}
	}
	if _, err := nc.Write(frameHeader(0x1, announce)); err != nil {
		nc.Close()
		h.fail("frame header", err)
		return
	}
	_ = nc.SetDeadline(time.Time{})
	h.count(fmt.Sprintf("frame header announcing %d bytes sent", announce))
	h.hold(nc, br, "ws")
}

// rawWS: row 5. A plain WebSocket, idle or with half a frame sent.
func (e *env) rawWS(ctx context.Context, h *holder, half bool) {
	host, path := splitWS(e.srv.rawURL)
	nc, err := e.d.dialAddr(ctx, host)
	if err != nil {
		h.fail("dial", err)
		return
	}
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	br, resp, err := upgrade(nc, host, path)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
		if err == nil {
			h.count(fmt.Sprintf("upgrade refused: HTTP %d", resp.StatusCode))
		} else {
			h.fail("upgrade", err)
		}
		return
	}
	if half {
		frame := append(frameHeader(0x1, halfFrame), e.filler(halfFrame/2)...)
		if _, err := nc.Write(frame); err != nil {
			nc.Close()
			h.fail("half frame", err)
			return
		}
		h.count("half a frame sent")
	} else {
		h.count("upgraded, idle")
	}
	_ = nc.SetDeadline(time.Time{})
	h.hold(nc, br, "ws")
}
