package postgres_test

import (
	"context"
	"testing"

	"github.com/eventide/realtime/internal/store/postgres"
	"github.com/eventide/realtime/internal/store/postgres/pgtest"
	"github.com/eventide/realtime/internal/store/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		return pgtest.Open(t, postgres.Config{})
	})
}

func TestOpenRefusesOtherURLs(t *testing.T) {
	for _, u := range []string{"", "./data/eventide.db", "sqlite:///tmp/x.db", "postgres://%zz"} {
		if db, err := postgres.Open(context.Background(), u, postgres.Config{}); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", u)
		}
	}
}
