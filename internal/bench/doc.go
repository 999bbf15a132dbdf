// Package bench is the load generator behind cmd/eventide-bench: Socket.IO
// v5 (Engine.IO 4) clients over WebSocket, scenarios (fan-out, many rooms,
// end-to-end REST, idle), measurement (deliveries, latency, server CPU and
// RSS read from /proc) and reporting (a table, a JSON line, medians and
// ratios against the Node.js reference).
//
// One process holds at most a few thousand connections (a Shard). A run
// with more clients re-executes the binary as `eventide-bench worker`
// children, each a Shard driven over stdin/stdout with JSON lines, and
// aggregates their results. Every run is bounded in count and time and
// targets only 127.0.0.0/8.
package bench
