package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The relay's connection to the database: one per process, outside the
// pool. While the process waits to lead it sits in pg_advisory_lock; while
// it leads it holds that lock and LISTENs for the events channel.
const (
	// heartbeat is how often a leading process checks that its lock
	// connection still answers; a leader that cannot tell stops leading.
	heartbeat = 5 * time.Second
	// reconnectDelay paces attempts to reach a database that is down.
	reconnectDelay = time.Second
	// relayAppName names the connection in pg_stat_activity.
	relayAppName = "eventide-relay"
)

// Causes of a leader context's end, besides its parent's.
var (
	errLostLead = errors.New("postgres: lost the relay lock connection")
	errClosed   = errors.New("postgres: database closed")
)

// Lead blocks until this process is the one relay of the database (or ctx
// ends), then returns a context that ends when it stops being it: when ctx
// ends (the lock is released at once, for another process to take) or when
// its lock connection fails (the server releases the lock when the
// connection goes). At most one process holds the lead at a time.
//
// The lead is a session advisory lock held on a connection of its own, so
// it lasts exactly as long as that connection: a process that dies, however
// it dies, hands the lead on as soon as the server sees its connection
// close. Waiters queue in pg_advisory_lock and are granted it in turn, with
// no polling. The connection also asks the server to probe a silent peer
// (TCP keepalives, client_connection_check_interval), so a leader whose
// machine vanished is noticed in about half a minute.
func (d *DB) Lead(parent context.Context) (context.Context, error) {
	// Waiting ends with parent or with Close; the lead then lives on
	// with parent (and Close) alone.
	ctx, stopWaiting := context.WithCancel(parent)
	defer stopWaiting()
	defer context.AfterFunc(d.closing, stopWaiting)()
	for {
		conn, err := d.lockConn(ctx)
		if err == nil {
			// Blocks while another process leads.
			if _, err = conn.Exec(ctx, "SELECT pg_advisory_lock($1)", d.lockKey("relay")); err == nil {
				_, err = conn.Exec(ctx, "LISTEN "+d.channel())
			}
			if err == nil && !d.addHolder() {
				closeConn(conn)
				return nil, errClosed
			}
			if err == nil {
				lead, cancel := context.WithCancelCause(parent)
				stop := context.AfterFunc(d.closing, func() { cancel(errClosed) })
				go func() {
					defer d.holders.Done()
					defer stop()
					d.hold(lead, cancel, conn)
				}()
				d.signalWake() // catch up with what committed before
				d.logger.Info("relay lock taken: this process relays the event log")
				return lead, nil
			}
			closeConn(conn)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		d.logger.Warn("relay lock: cannot reach the database; trying again", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(reconnectDelay):
		}
	}
}

// addHolder counts a new lead holder, unless the DB is closing.
func (d *DB) addHolder() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closing.Err() != nil {
		return false
	}
	d.holders.Add(1)
	return true
}

// lockConn opens the relay's own connection.
func (d *DB) lockConn(ctx context.Context) (*pgx.Conn, error) {
	cc := d.pool.Config().ConnConfig.Copy()
	cc.RuntimeParams["application_name"] = relayAppName
	cc.RuntimeParams["client_connection_check_interval"] = "2000" // ms
	cc.RuntimeParams["tcp_keepalives_idle"] = "10"
	cc.RuntimeParams["tcp_keepalives_interval"] = "5"
	cc.RuntimeParams["tcp_keepalives_count"] = "3"
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("postgres: relay connection: %w", err)
	}
	return conn, nil
}

// hold keeps the lead while lead lives: it turns notifications into wakes
// and checks the connection every heartbeat. Closing the connection, on
// the way out, releases the lock.
func (d *DB) hold(lead context.Context, cancel context.CancelCauseFunc, conn *pgx.Conn) {
	defer closeConn(conn)
	for {
		wait, stop := context.WithTimeout(lead, heartbeat)
		_, err := conn.WaitForNotification(wait)
		stop()
		switch {
		case err == nil:
			d.signalWake()
			continue
		case lead.Err() != nil:
			return // the relay let go, or the process is stopping
		case wait.Err() != nil: // quiet for a heartbeat: still there?
			ping, stop := context.WithTimeout(lead, heartbeat)
			err = conn.Ping(ping)
			stop()
			if err == nil || lead.Err() != nil {
				continue
			}
		}
		d.logger.Warn("relay lock lost: this process stops relaying", "err", err)
		cancel(errLostLead)
		return
	}
}

// closeConn closes a connection, within a bound if the server is gone.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}

// Wake returns a channel that receives a value after events commit, in this
// process or another (LISTEN/NOTIFY, while this process leads). Values are
// coalesced, and one may be missed when the lock connection is replaced:
// the relay polls as well.
func (d *DB) Wake() <-chan struct{} { return d.wake }

func (d *DB) signalWake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// channel is the NOTIFY channel of this DB's schema, as an identifier.
func (d *DB) channel() string {
	return fmt.Sprintf("eventide_events_%016x", uint64(d.lockKey("events")))
}
