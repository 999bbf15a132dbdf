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
// waiting (WriteNow, which finishes the rest of a full socket on a goroutine
// of its own and says when through WriteDone), or to many connections in one
// system call (Batcher: io_uring on Linux when the kernel has what it needs,
// probed when it is made, else one send per connection; Path says which).
// On Linux an idle server connection needs no goroutine: Watch registers its
// socket with a Poller's epoll set and calls back when bytes arrive. A
// Poller and a Batcher belong to whoever made them (the Engine.IO server)
// and are released by their Close (ADR 0010, ADR 0012, ADR 0018).
package ws
