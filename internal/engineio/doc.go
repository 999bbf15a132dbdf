// Package engineio is an Engine.IO server speaking protocol v4 (socket.io-client
// 3.x/4.x) and v3 (socket.io-client 2.x) on the same endpoint, over HTTP
// long-polling and WebSocket, with the polling -> websocket upgrade.
//
// It behaves like the Node.js engine.io 6.x server with allowEIO3: true. A
// Server is an http.Handler; each new session is handed to the open callback,
// which returns the Receiver that gets the session's messages, in order, and
// its close reason, exactly once.
//
// Messages to send are prepared once (TextMessage, BinaryMessage) and may be
// sent to many connections: the WebSocket frame of each protocol flavour is
// encoded once and cached in the Message, and every connection coalesces what
// is queued for it into one write. A broadcast enters through
// Server.Broadcast, which decides how the bytes are written (writers.go).
//
// The server owns what it uses below it: the ws.Poller that watches its idle
// WebSockets and the ws.Batcher that writes its small broadcasts, made on
// first use and closed by Shutdown.
//
// A process that stops drains first (drain.go): StopAccepting refuses new
// sessions, and Drain closes the open ones as a transport close, spread over
// an interval, each after its receiver's OnDrain (a Drainer), so that
// clients reconnect elsewhere without all coming back at once.
package engineio
