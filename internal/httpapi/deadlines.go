package httpapi

import (
	"net/http"
	"strings"
	"time"
)

// Per-request deadlines of ordinary requests when Config leaves them zero.
const (
	DefaultReadTimeout  = 30 * time.Second
	DefaultWriteTimeout = 30 * time.Second
)

// Deadlines returns middleware that bounds how long an ordinary request
// may take to send its body (Config.ReadTimeout, answered 408) and to read
// its answer (Config.WriteTimeout), through http.ResponseController. It
// leaves alone the requests exempt reports (nil: none): Engine.IO requests
// and WebSocket upgrades, which wait for data by design and set their own
// deadlines. http.Server.ReadTimeout and WriteTimeout cannot be used for
// this, as they would apply to those as well.
//
// A request without a body gets no read deadline. net/http starts a
// background read on the connection when a request's body has been read
// (at once when there is none), to notice the client leaving, and cancels
// the request's context if that read fails — also when it hits a read
// deadline set while it waits. (It clears the read deadline when it starts
// that read, and the write deadline after each request, so neither passes
// on to the next request of a keep-alive connection.)
func Deadlines(cfg Config, exempt func(*http.Request) bool) func(http.Handler) http.Handler {
	rt, wt := cfg.readTimeout(), cfg.writeTimeout()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if exempt != nil && exempt(r) {
				next.ServeHTTP(w, r)
				return
			}
			rc := http.NewResponseController(w)
			now := time.Now()
			_ = rc.SetWriteDeadline(now.Add(wt))
			if r.Body != nil && r.Body != http.NoBody {
				_ = rc.SetReadDeadline(now.Add(rt))
			}
			next.ServeHTTP(w, r)
		})
	}
}

// IsWebSocketUpgrade reports whether r asks to become a WebSocket
// (Connection: upgrade and Upgrade: websocket).
func IsWebSocketUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

// ownDeadlines reports the requests of this server's handler that manage
// their own deadlines: Engine.IO's, and WebSocket upgrades at /ws. An
// upgrade header on any other route does not exempt a request.
func ownDeadlines(r *http.Request) bool {
	p := r.URL.Path
	if p == "/socket.io" || strings.HasPrefix(p, "/socket.io/") {
		return true
	}
	return p == "/ws" && IsWebSocketUpgrade(r)
}

// headerHasToken reports whether a comma-separated header holds token
// (case-insensitively), as "Connection: keep-alive, Upgrade" does.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}
