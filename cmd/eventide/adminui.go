package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/eventide/realtime/internal/adminui"
	"github.com/eventide/realtime/internal/httpapi"
	"github.com/eventide/realtime/internal/socketio"
)

// hostedAdminUI is the origin of the admin UI that socket.io hosts.
const hostedAdminUI = "https://admin.socket.io"

// adminUIConfig are the flags of @socket.io/admin-ui (issue 12, ADR 0025).
type adminUIConfig struct {
	Auth     string // user:<bcrypt hash>
	NoAuth   bool
	ReadOnly bool
	Mode     string
	ServerID string

	user, hash string // Auth split, by check
}

// enabled: the UI is off unless a login (or no login, in dev) is set.
func (a *adminUIConfig) enabled() bool { return a.Auth != "" || a.NoAuth }

// bindAdminUI registers the admin UI's flags.
func bindAdminUI(fs *flag.FlagSet, c *config, getenv func(string) string) {
	a := &c.AdminUI
	fs.StringVar(&a.Auth, "admin-ui-auth", getenv("EVENTIDE_ADMIN_UI_AUTH"), "turns the Socket.IO admin UI (/admin namespace) on with the login user:<bcrypt hash>; make the hash with: eventide hash-password [EVENTIDE_ADMIN_UI_AUTH]")
	fs.BoolVar(&a.NoAuth, "admin-ui-no-auth", envBool(getenv, "EVENTIDE_ADMIN_UI_NO_AUTH"), "turns the admin UI on without a login (dev only; refused in production) [EVENTIDE_ADMIN_UI_NO_AUTH]")
	fs.BoolVar(&a.ReadOnly, "admin-ui-readonly", envBool(getenv, "EVENTIDE_ADMIN_UI_READONLY"), "admin UI: refuse its commands (emit, join, leave, disconnect) [EVENTIDE_ADMIN_UI_READONLY]")
	fs.StringVar(&a.Mode, "admin-ui-mode", getenv("EVENTIDE_ADMIN_UI_MODE"), "admin UI: development (every socket, live socket and room events) or production (server stats only); default development with --env dev, production with --env production [EVENTIDE_ADMIN_UI_MODE]")
	fs.StringVar(&a.ServerID, "admin-ui-server-id", getenv("EVENTIDE_ADMIN_UI_SERVER_ID"), "admin UI: this node's name in the UI; default hostname#pid [EVENTIDE_ADMIN_UI_SERVER_ID]")
}

func envBool(getenv func(string) string, key string) bool {
	b, _ := strconv.ParseBool(getenv(key))
	return b
}

// checkAdminUI reports admin UI settings that cannot work, and fills in
// the mode's default.
func (c *config) checkAdminUI(p *problems) {
	a := &c.AdminUI
	if a.Mode == "" {
		a.Mode = adminui.ModeDevelopment
		if c.production() {
			a.Mode = adminui.ModeProduction
		}
	}
	if a.Mode != adminui.ModeDevelopment && a.Mode != adminui.ModeProduction {
		p.addf("--admin-ui-mode must be %s or %s, not %q", adminui.ModeDevelopment, adminui.ModeProduction, a.Mode)
	}
	switch {
	case a.Auth != "" && a.NoAuth:
		p.addf("--admin-ui-auth and --admin-ui-no-auth exclude each other: keep the login")
	case a.NoAuth && c.production():
		p.addf("--admin-ui-no-auth is refused in production: give the admin UI a login with --admin-ui-auth user:<bcrypt hash>")
	case a.Auth != "":
		user, hash, ok := strings.Cut(a.Auth, ":")
		if !ok || user == "" {
			p.addf("--admin-ui-auth must be user:<bcrypt hash>, such as admin:$2a$10$..., not %q", redactAuth(a.Auth))
			break
		}
		if err := adminui.CheckHash(hash); err != nil {
			p.addf("--admin-ui-auth %s:...: the part after the user is %v", user, err)
			break
		}
		a.user, a.hash = user, hash
	case a.ReadOnly || a.ServerID != "":
		p.addf("--admin-ui-readonly and --admin-ui-server-id need the admin UI on: give --admin-ui-auth user:<bcrypt hash>")
	}
}

// redactAuth shows a malformed --admin-ui-auth without what may be a
// password typed in place of the hash.
func redactAuth(s string) string {
	if len(s) > 4 {
		return s[:2] + "..."
	}
	return "..."
}

// startAdminUI serves the admin UI on sio when configured (nil when off).
// The caller closes it before the Socket.IO server's Shutdown.
func startAdminUI(cfg *config, sio *socketio.Server, log *slog.Logger) (*adminui.UI, error) {
	a := cfg.AdminUI
	if !a.enabled() {
		return nil, nil
	}
	ui, err := adminui.New(sio, adminui.Config{
		Username:     a.user,
		PasswordHash: a.hash,
		NoAuth:       a.NoAuth,
		ReadOnly:     a.ReadOnly,
		Mode:         a.Mode,
		ServerID:     a.ServerID,
		Logger:       log,
	})
	if err != nil {
		return nil, err
	}
	ui.Start()
	allowed := httpapi.AllowOrigin(httpapi.Config{Env: cfg.Env, CORSOrigins: cfg.CORSOrigins})(hostedAdminUI)
	log.Info("admin UI on the /admin namespace", "mode", a.Mode, "readonly", a.ReadOnly, "login", !a.NoAuth,
		"hosted_ui_allowed", allowed)
	if a.NoAuth {
		log.Warn("admin UI without a login: anyone who reaches the server can see every socket and send commands")
	}
	if !allowed {
		log.Info("the hosted admin UI (" + hostedAdminUI + ") is not among --cors-origins: add it to use it, or serve the UI from an allowed origin")
	}
	return ui, nil
}

// stopAdminUI stops the admin UI's stats; safe with nil.
func stopAdminUI(ui *adminui.UI) {
	if ui != nil {
		_ = ui.Close()
	}
}

// hashPasswordCommand is `eventide hash-password`.
func hashPasswordCommand(fs *flag.FlagSet) *command {
	return &command{
		name:     "hash-password",
		synopsis: "hash-password < password",
		about: `Reads a password (the first line of standard input) and prints its bcrypt hash
(cost 10), for --admin-ui-auth user:<hash>. Without echo in a shell:
  read -rs PW; printf '%s' "$PW" | eventide hash-password`,
		fs: fs,
	}
}

// runHashPassword prints the bcrypt hash of the password read from stdin.
func runHashPassword(_ context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("hash-password")
	if help, err := hashPasswordCommand(fs).parse(args, stdout); help || err != nil {
		return err
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && line == "" {
		return &usageError{"hash-password reads the password from standard input: printf '%s' 'secret' | eventide hash-password"}
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return &usageError{"the password is empty"}
	}
	if len(pw) > 72 {
		return &usageError{"bcrypt uses at most 72 bytes of a password: choose a shorter one"}
	}
	h, err := adminui.HashPassword(pw)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, h)
	return nil
}
