package main

import (
	"context"
	"log/slog"

	"github.com/eventide/realtime/internal/realtime/redisadapter"
	"github.com/eventide/realtime/internal/socketio"
)

// redisBroker is what serve needs of a Redis broker besides socketio.Broker.
type redisBroker interface {
	socketio.Broker
	Ready(ctx context.Context) error
}

// newBroker returns the broker --adapter names: nil for memory (the
// Socket.IO server's own, a cluster of one), else a Redis broker that the
// caller closes after the Socket.IO server's Shutdown (ADR 0019).
func newBroker(cfg *config, log *slog.Logger) (redisBroker, error) {
	rc := redisadapter.Config{
		URL:            cfg.RedisURL,
		Key:            cfg.RedisKey,
		MaxLen:         cfg.RedisStreamMaxLen,
		RequestTimeout: cfg.RedisRequestTimeout,
		Recovery:       cfg.RecoveryWindow > 0,
		Logger:         log,
	}
	switch cfg.Adapter {
	case "redis":
		return redisadapter.NewClassic(rc)
	case "redis-streams":
		return redisadapter.NewStreams(rc)
	}
	return nil, nil
}

// readiness is /readyz: the database answers and, with a Redis adapter,
// Redis is reachable.
func readiness(dbPing func(context.Context) error, broker redisBroker) func(context.Context) error {
	if broker == nil {
		return dbPing
	}
	return func(ctx context.Context) error {
		if err := dbPing(ctx); err != nil {
			return err
		}
		return broker.Ready(ctx)
	}
}
