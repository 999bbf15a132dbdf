package adminui

import (
	"context"
	"errors"
	"fmt"

	"github.com/eventide/realtime/internal/socketio"
)

// errReadOnly refuses a command of a read-only UI.
var errReadOnly = errors.New("read-only: this admin UI accepts no commands")

// registerCommands adds the UI's commands to an admin socket: "emit",
// "join", "leave" and "_disconnect", with the arguments of Node's
// (nsp, ..., filter), acting on every node. A read-only UI refuses them.
// The UI sends them without an ack; a client that asks for one gets
// {status: "ok"} or {status: "error", message} (the tests do).
func (u *UI) registerCommands(s *socketio.Socket) {
	s.On("emit", u.command(func(ctx context.Context, a args) error {
		op, err := u.target(a, 0, 1)
		if err != nil {
			return err
		}
		ev, err := a.str(2, "event")
		if err != nil {
			return err
		}
		return op.EmitContext(ctx, ev, a[3:]...)
	}))
	s.On("join", u.command(func(ctx context.Context, a args) error {
		op, room, err := u.roomCommand(a)
		if err != nil {
			return err
		}
		return op.SocketsJoin(ctx, room)
	}))
	s.On("leave", u.command(func(ctx context.Context, a args) error {
		op, room, err := u.roomCommand(a)
		if err != nil {
			return err
		}
		return op.SocketsLeave(ctx, room)
	}))
	s.On("_disconnect", u.command(func(ctx context.Context, a args) error {
		op, err := u.target(a, 0, 2)
		if err != nil {
			return err
		}
		closeConn, _ := a.at(1).(bool)
		return op.DisconnectSockets(ctx, closeConn)
	}))
}

// command wraps a command's action: refused when read-only, bounded by
// RequestTimeout, logged, and answered when the client asked for an ack.
func (u *UI) command(do func(ctx context.Context, a args) error) func(e *socketio.Event) {
	return func(e *socketio.Event) {
		err := errReadOnly
		if !u.cfg.ReadOnly {
			ctx, cancel := context.WithTimeout(context.Background(), u.cfg.RequestTimeout)
			err = do(ctx, e.Args)
			cancel()
		}
		if err != nil {
			u.log.Info("admin UI command refused", "command", e.Name, "err", err)
		} else {
			u.log.Info("admin UI command", "command", e.Name, "args", logArgs(e.Args))
		}
		if e.Ack != nil {
			if err != nil {
				_ = e.Ack(map[string]any{"status": "error", "message": err.Error()})
			} else {
				_ = e.Ack(map[string]any{"status": "ok"})
			}
		}
	}
}

// roomCommand reads join's and leave's (nsp, room, filter).
func (u *UI) roomCommand(a args) (*socketio.BroadcastOperator, string, error) {
	op, err := u.target(a, 0, 2)
	if err != nil {
		return nil, "", err
	}
	room, err := a.str(1, "room")
	return op, room, err
}

// target is the operator over the namespace named by argument nspAt and,
// when argument filterAt is a non-empty string, the sockets in that room.
// A namespace this server does not have is an error (Node's io.of would
// make one).
func (u *UI) target(a args, nspAt, filterAt int) (*socketio.BroadcastOperator, error) {
	name, err := a.str(nspAt, "nsp")
	if err != nil {
		return nil, err
	}
	for _, n := range u.io.Namespaces() {
		if n.Name() == name {
			if filter, _ := a.at(filterAt).(string); filter != "" {
				return n.In(filter), nil
			}
			return n.Except(), nil
		}
	}
	return nil, fmt.Errorf("nsp: no namespace %q", name)
}

// args are a command's arguments.
type args []any

func (a args) at(i int) any {
	if i < len(a) {
		return a[i]
	}
	return nil
}

// str returns argument i, which must be a non-empty string named field.
func (a args) str(i int, field string) (string, error) {
	s, ok := a.at(i).(string)
	if !ok || s == "" {
		return "", fmt.Errorf("%s: must be a non-empty string", field)
	}
	return s, nil
}

// logMax bounds the arguments of a command in its log line (an emit's
// payload can be as large as a message).
const logMax = 256

// logArgs is a command's arguments for the log, cut to logMax bytes.
func logArgs(a []any) string {
	s := fmt.Sprint(a)
	if len(s) > logMax {
		return s[:logMax] + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return s
}
