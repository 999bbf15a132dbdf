// Package netlimit keeps a server answering when clients hold more
// connections open than it has file descriptors for.
//
// A Limiter caps the connections open across the listeners it wraps,
// below the process's open-file limit. At the cap it makes room for a new
// connection by closing the one that has waited longest without a request
// in progress: idle between requests (keep-alive) or not yet done sending
// its first request (a slow or silent client). It learns those states
// from http.Server.ConnState. Connections with a request in progress are
// left alone (their own deadlines bound them), and so are hijacked ones
// (WebSockets), which still count against the cap until they close. Only
// when no connection can give way is a new one refused, with a 503.
//
// The accepted connection is handed to net/http unwrapped, so the
// WebSocket layer still reaches its file descriptor after a hijack.
package netlimit
