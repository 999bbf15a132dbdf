// Package ws is Eventide's WebSocket layer (RFC 6455) and the only package
// that imports github.com/gobwas/ws (and, for io_uring, golang.org/x/sys/unix).
//
// The server side hijacks the HTTP connection, clears the deadlines the HTTP
// server left on it, and keeps no buffer while a connection is idle; frame
// headers are read and checked here (RSV bits, opcodes, masking,
// control-frame rules, message size, fragment count, UTF-8 of text
// messages), and a message's buffer grows with the bytes that arrive, never
// to the length a header announces. Conn.OnFrame lets a caller see every
// frame read (liveness, a message begun). Server frames can be encoded once
// (AppendFrame) and the same bytes written to many connections, several at a
// time in one write (WriteFrames), or as much as the socket takes without
// waiting (WriteFramesNow), or to many connections in one system call
// (SendBatch: io_uring on Linux when the kernel has what it needs, probed at
// start, else one send per connection; BatchPath says which). On Linux an
// idle server connection needs no goroutine: Watch registers its socket with
// one process-wide epoll set and calls back when bytes arrive (ADR 0010,
// ADR 0012).
package ws
