package redisadapter

// EncodeClassicBroadcastForTest encodes a classic broadcast message as any
// publisher (an emitter, a Node node) would, for the tests.
var EncodeClassicBroadcastForTest = encodeClassicBroadcast
