package adminui

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/eventide/realtime/internal/socketio"
)

// Modes of the UI, as Node's instrument() names them.
const (
	// ModeDevelopment sends every socket at login and the live socket,
	// room and event notifications (Feature ALL_EVENTS).
	ModeDevelopment = "development"
	// ModeProduction sends the server stats and their aggregated events
	// only: nothing per socket, whatever the number of sockets.
	ModeProduction = "production"
)

// Defaults of Config.
const (
	DefaultNamespace      = "/admin"
	DefaultStatsInterval  = 2 * time.Second
	DefaultRequestTimeout = 5 * time.Second
	// DefaultMaxSessions bounds the login sessions kept; the oldest is
	// forgotten first (its UI logs in again with the password).
	DefaultMaxSessions = 1000
	// DefaultSessionTTL is how long a login session lets the UI in again.
	DefaultSessionTTL = 24 * time.Hour
	// queueSize bounds the notifications waiting to be emitted; more are
	// dropped (and counted) rather than slowing the sockets they describe.
	queueSize = 4096
)

// ErrInvalidCredentials is the connect_error of a refused login, the
// message Node's admin UI sends and its UI looks for.
var ErrInvalidCredentials = errors.New("invalid credentials")

// errBusy refuses a login while another one's password is being checked:
// bcrypt costs tens of milliseconds of CPU by design, so checks run one at
// a time and a flood of logins cannot take the server's cores.
var errBusy = errors.New("invalid credentials: another login is being checked, retry")

// Config configures the admin UI. Zero values take the defaults.
type Config struct {
	// Username and PasswordHash (bcrypt, "$2a$"/"$2b$"/"$2y$") are the
	// one login. Required unless NoAuth.
	Username     string
	PasswordHash string
	// NoAuth lets anyone in without a login (development only; the
	// command line refuses it in production).
	NoAuth bool
	// ReadOnly refuses the commands (emit, join, leave, disconnect).
	ReadOnly bool
	// Mode is ModeDevelopment (default) or ModeProduction.
	Mode string
	// ServerID names this node in the UI. Default hostname#pid, unique
	// per process even with several nodes on one host.
	ServerID string
	// Namespace is the admin namespace. Default DefaultNamespace.
	Namespace string
	// StatsInterval is how often this node sends its server stats.
	StatsInterval time.Duration
	// RequestTimeout bounds a request to the other nodes (the sockets at
	// login, the commands). Default DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxSessions and SessionTTL bound the login sessions.
	MaxSessions int
	SessionTTL  time.Duration
	// Logger receives the UI's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock (uptime, timestamps, sessions); default time.Now.
	Now func() time.Time
}

// CheckHash reports why hash is not a bcrypt hash the UI can log in with.
func CheckHash(hash string) error {
	if _, err := bcrypt.Cost([]byte(hash)); err != nil {
		return fmt.Errorf("not a bcrypt hash (%v): make one with `eventide hash-password`", err)
	}
	return nil
}

// HashPassword returns the bcrypt hash of password at bcrypt's default
// cost (10), for Config.PasswordHash.
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(h), err
}

// UI is the admin UI's side on one node: the admin namespace's handlers,
// the stats ticker and the queue of notifications.
type UI struct {
	io  *socketio.Server
	nsp *socketio.Namespace
	cfg Config
	log *slog.Logger
	dev bool

	features []string
	hash     []byte
	// checking holds the one password check running (errBusy).
	checking chan struct{}
	sessions sessions

	serverID, hostname string
	pid                int
	started            time.Time

	events eventBuffer
	// last are the server's counters at the previous stats.
	last socketio.Counters

	// queue holds the notifications to emit, in order, on the UI's
	// goroutine: a room joined never waits for Redis.
	queue   chan notification
	dropped atomic.Int64

	mu      sync.Mutex
	running bool
	stop    chan struct{}
	done    chan struct{}
}

// notification is one event to broadcast to the admin sockets.
type notification struct {
	event string
	args  []any
}

// New serves the admin UI on io: it makes the admin namespace, its login
// middleware and handlers, and sets io's hooks (socketio.Hooks). Call it
// after the application's own handlers are registered, then Start.
func New(io *socketio.Server, cfg Config) (*UI, error) {
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.Mode == "" {
		cfg.Mode = ModeDevelopment
	}
	if cfg.Mode != ModeDevelopment && cfg.Mode != ModeProduction {
		return nil, fmt.Errorf("adminui: mode must be %s or %s, not %q", ModeDevelopment, ModeProduction, cfg.Mode)
	}
	if cfg.StatsInterval <= 0 {
		cfg.StatsInterval = DefaultStatsInterval
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if !cfg.NoAuth {
		if cfg.Username == "" {
			return nil, errors.New("adminui: a username is required (or no authentication, in development)")
		}
		if err := CheckHash(cfg.PasswordHash); err != nil {
			return nil, fmt.Errorf("adminui: password hash: %w", err)
		}
	}
	host, _ := os.Hostname()
	u := &UI{
		io:       io,
		nsp:      io.Of(cfg.Namespace),
		cfg:      cfg,
		log:      cfg.Logger,
		dev:      cfg.Mode == ModeDevelopment,
		hash:     []byte(cfg.PasswordHash),
		checking: make(chan struct{}, 1),
		sessions: sessions{max: cfg.MaxSessions, ttl: cfg.SessionTTL},
		hostname: host,
		pid:      os.Getpid(),
		started:  cfg.Now(),
		queue:    make(chan notification, queueSize),
		last:     io.Counters(),
	}
	u.serverID = cfg.ServerID
	if u.serverID == "" {
		u.serverID = fmt.Sprintf("%s#%d", host, u.pid)
	}
	if !cfg.ReadOnly {
		u.features = append(u.features, "EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT")
	}
	u.features = append(u.features, "AGGREGATED_EVENTS")
	if u.dev {
		u.features = append(u.features, "ALL_EVENTS")
	}

	u.nsp.Use(u.authenticate)
	u.nsp.OnConnection(u.onAdminConnection)
	u.nsp.OnServerSideEmit(eventSockets, u.answerSockets)
	hooks := socketio.Hooks{
		ClientOpened: func() { u.events.push(cfg.Now(), "rawConnection", "", 1) },
		ClientClosed: func(reason string) { u.events.push(cfg.Now(), "rawDisconnection", reason, 1) },
	}
	if u.dev {
		hooks.RoomJoined = func(s *socketio.Socket, room string) {
			u.notify("room_joined", s.Namespace().Name(), room, s.ID(), u.timestamp())
		}
		hooks.RoomLeft = func(s *socketio.Socket, room string) {
			u.notify("room_left", s.Namespace().Name(), room, s.ID(), u.timestamp())
		}
		hooks.Upgraded = func(s *socketio.Socket) {
			u.notify("socket_updated", map[string]any{"id": s.ID(), "nsp": s.Namespace().Name(), "transport": s.Transport()})
		}
		for _, n := range io.Namespaces() {
			n.OnConnection(u.watchSocket)
		}
	}
	io.SetHooks(hooks)
	return u, nil
}

// Start starts sending the server stats and the notifications. Safe to
// call twice.
func (u *UI) Start() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.running || u.stop != nil {
		return
	}
	u.running = true
	u.stop, u.done = make(chan struct{}), make(chan struct{})
	go u.run(u.stop, u.done)
}

// Close stops the stats and the notifications (the admin sockets are the
// Socket.IO server's, closed by its Shutdown). Safe to call twice.
func (u *UI) Close() error {
	u.mu.Lock()
	stop, done, running := u.stop, u.done, u.running
	u.running = false
	u.mu.Unlock()
	if !running {
		return nil
	}
	close(stop)
	<-done
	return nil
}

// run is the UI's goroutine: it emits the notifications in order and the
// stats every StatsInterval.
func (u *UI) run(stop, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(u.cfg.StatsInterval)
	defer tick.Stop()
	u.emit("server_stats", u.stats(true))
	for {
		select {
		case <-stop:
			return
		case n := <-u.queue:
			u.emit(n.event, n.args...)
		case <-tick.C:
			if d := u.dropped.Swap(0); d > 0 {
				u.log.Warn("admin UI: notifications dropped (too many at once for the UI)", "dropped", d)
			}
			u.emit("server_stats", u.stats(true))
		}
	}
}

// emit broadcasts to the admin sockets of every node.
func (u *UI) emit(event string, args ...any) {
	ctx, cancel := context.WithTimeout(context.Background(), u.cfg.RequestTimeout)
	defer cancel()
	if err := u.nsp.Except().EmitContext(ctx, event, args...); err != nil {
		u.log.Debug("admin UI: emit failed", "event", event, "err", err)
	}
}

// notify queues a notification; when the queue is full it is dropped.
func (u *UI) notify(event string, args ...any) {
	select {
	case u.queue <- notification{event, args}:
	default:
		u.dropped.Add(1)
	}
}

// timestamp is a notification's time, as JavaScript's Date.toJSON writes it.
func (u *UI) timestamp() string {
	return u.cfg.Now().UTC().Format("2006-01-02T15:04:05.000Z")
}

// sessionKey keeps a new login's session id on its socket until the
// connection handler sends it.
const sessionKey = "adminui.session"

// authenticate is the admin namespace's middleware: a session id the UI
// got at an earlier login, or the username and password.
func (u *UI) authenticate(s *socketio.Socket) error {
	if u.cfg.NoAuth {
		return nil
	}
	auth := s.Handshake().Auth
	now := u.cfg.Now()
	if id, _ := auth["sessionId"].(string); id != "" && u.sessions.valid(id, now) {
		return nil
	}
	user, _ := auth["username"].(string)
	pass, _ := auth["password"].(string)
	if user == "" && pass == "" {
		return ErrInvalidCredentials
	}
	select {
	case u.checking <- struct{}{}:
	default:
		return errBusy
	}
	// Both are checked, so the time taken does not tell a known user.
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(u.cfg.Username)) == 1
	passOK := bcrypt.CompareHashAndPassword(u.hash, []byte(pass)) == nil
	<-u.checking
	if !userOK || !passOK {
		u.log.Info("admin UI login refused", "addr", s.Handshake().Address)
		return ErrInvalidCredentials
	}
	s.Set(sessionKey, u.sessions.add(now))
	return nil
}

// onAdminConnection welcomes a logged-in UI: its session, the config,
// this node's stats at once (the others' come within StatsInterval) and,
// in development mode, every socket.
func (u *UI) onAdminConnection(s *socketio.Socket) {
	u.registerCommands(s)
	if id, _ := s.Get(sessionKey).(string); id != "" {
		_ = s.Emit("session", id)
	}
	_ = s.Emit("config", map[string]any{"supportedFeatures": u.features})
	_ = s.Emit("server_stats", u.stats(false))
	if u.dev {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), u.cfg.RequestTimeout)
			defer cancel()
			_ = s.Emit("all_sockets", u.allSockets(ctx))
		}()
	}
}
