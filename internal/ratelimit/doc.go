// Package ratelimit is the token buckets behind Eventide's rate limits: a
// Bucket per Socket.IO connection, and a Keyed set of buckets per token
// subject for Socket.IO events and REST writes.
//
// A bucket holds up to Limit.Burst tokens and gains Limit.Rate a second; an
// event takes one token or is refused. Every method takes the time as an
// argument, so the caller's clock decides (tests drive a fake one, and
// nothing here reads the wall clock or starts a timer).
//
// Keyed keeps at most a fixed number of buckets: when one more key comes,
// the bucket used least recently is dropped, and that key starts again
// full if it returns. So its memory is bounded whatever the keys; a bucket
// dropped that way has usually refilled already (it was idle the longest),
// and only a caller cycling through more keys than the bound gains tokens
// by it.
//
// It wraps golang.org/x/time/rate (the buckets) and
// github.com/hashicorp/golang-lru/v2 (the bound on Keyed); no other package
// of ours imports them.
package ratelimit
