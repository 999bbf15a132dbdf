// Package ws is Eventide's WebSocket layer (RFC 6455) and the only package
// that imports github.com/gobwas/ws.
//
// The server side hijacks the HTTP connection and keeps no buffer while a
// connection is idle; frame headers are read and checked here (RSV bits,
// opcodes, masking, control-frame rules, message size, fragment count, UTF-8
// of text messages). Server frames can be encoded once (AppendFrame) and the
// same bytes written to many connections, several at a time in one write
// (WriteFrames), or as much as the socket takes without waiting
// (WriteFramesNow), or to many connections in one system call (SendBatch,
// io_uring on Linux). On Linux an idle server connection needs no goroutine:
// Watch registers its socket with one process-wide epoll set and calls back
// when bytes arrive (ADR 0010).
package ws
