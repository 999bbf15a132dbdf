package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/eventide/realtime/internal/apperr"
	"github.com/eventide/realtime/internal/auth"
)

// Dev-only endpoints: they exist only when Config.Env is not "production".

const (
	defaultDevTTL = time.Hour
	maxDevTTL     = 30 * 24 * time.Hour
	maxEmitCount  = 100_000
)

type tokenRequest struct {
	Sub        *string         `json:"sub"`
	Role       *string         `json:"role"`
	ProviderID *string         `json:"providerId"`
	Providers  json.RawMessage `json:"providers"` // ["42", ...] or "*"
	TTL        *string         `json:"ttl"`
}

type tokenClaims struct {
	Sub        string   `json:"sub"`
	Role       string   `json:"role"`
	ProviderID string   `json:"providerId,omitempty"`
	Providers  []string `json:"providers,omitempty"`
	Exp        int64    `json:"exp"`
}

type tokenResponse struct {
	Token     string      `json:"token"`
	ExpiresAt time.Time   `json:"expiresAt"`
	Claims    tokenClaims `json:"claims"`
}

func (req tokenRequest) validate() (auth.Claims, time.Duration, error) {
	c := auth.Claims{Subject: "dev", Role: auth.RoleAdmin}
	if req.Sub != nil {
		if *req.Sub == "" {
			return c, 0, apperr.Invalid("sub", "must not be empty")
		}
		c.Subject = *req.Sub
	}
	if req.Role != nil {
		c.Role = *req.Role
	}
	if req.ProviderID != nil {
		c.ProviderID = *req.ProviderID
	}
	if len(req.Providers) > 0 && string(req.Providers) != "null" {
		var all string
		if err := json.Unmarshal(req.Providers, &all); err == nil {
			if all != auth.AllProviders {
				return c, 0, apperr.Invalid("providers", `must be an array of provider ids or "*"`)
			}
			c.Providers = []string{auth.AllProviders}
		} else if err := json.Unmarshal(req.Providers, &c.Providers); err != nil {
			return c, 0, apperr.Invalid("providers", `must be an array of provider ids or "*"`)
		}
	}
	ttl := defaultDevTTL
	if req.TTL != nil {
		d, err := time.ParseDuration(*req.TTL)
		if err != nil || d <= 0 || d > maxDevTTL {
			return c, 0, apperr.Invalid("ttl", fmt.Sprintf("must be a Go duration such as 1h, between 1s and %s", maxDevTTL))
		}
		ttl = d
	}
	if err := c.Validate(); err != nil {
		return c, 0, err
	}
	return c, ttl, nil
}

func handleDevToken(cfg Config, d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req tokenRequest
		// The body is optional: none means an admin token for "dev".
		if err := decode(w, r, cfg.maxBody(), &req); err != nil && !errors.Is(err, errEmptyBody) {
			writeProblem(w, r, d.Logger, err)
			return
		}
		c, ttl, err := req.validate()
		if err != nil {
			writeProblem(w, r, d.Logger, err)
			return
		}
		tok, exp, err := d.Minter.Mint(c, ttl)
		if err != nil {
			writeProblem(w, r, d.Logger, err)
			return
		}
		encode(w, http.StatusOK, tokenResponse{Token: tok, ExpiresAt: exp.UTC(), Claims: tokenClaims{
			Sub: c.Subject, Role: c.Role, ProviderID: c.ProviderID, Providers: c.Providers, Exp: exp.Unix(),
		}})
	})
}

type emitRequest struct {
	Room  *string         `json:"room"`
	Event *string         `json:"event"`
	Data  json.RawMessage `json:"data"`
	Count *int            `json:"count"`
}

type emitResponse struct {
	Room    string `json:"room,omitempty"`
	Event   string `json:"event"`
	Emitted int    `json:"emitted"`
}

// reservedEvents cannot be emitted by an application (Socket.IO rule).
var reservedEvents = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true, "disconnecting": true,
	"newListener": true, "removeListener": true,
}

func handleDevEmit(cfg Config, d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := claims(r); c.Role != auth.RoleAdmin {
			writeProblem(w, r, d.Logger, apperr.Errorf(apperr.CodeForbidden, "emitting needs an admin token"))
			return
		}
		var req emitRequest
		if err := decode(w, r, cfg.maxBody(), &req); err != nil {
			writeProblem(w, r, d.Logger, err)
			return
		}
		if req.Event == nil || strings.TrimSpace(*req.Event) == "" {
			writeProblem(w, r, d.Logger, apperr.Invalid("event", "is required"))
			return
		}
		if reservedEvents[*req.Event] {
			writeProblem(w, r, d.Logger, apperr.Invalid("event", fmt.Sprintf("%q is a reserved Socket.IO event", *req.Event)))
			return
		}
		count := 1
		if req.Count != nil {
			if *req.Count < 1 || *req.Count > maxEmitCount {
				writeProblem(w, r, d.Logger, apperr.Invalid("count", fmt.Sprintf("must be between 1 and %d", maxEmitCount)))
				return
			}
			count = *req.Count
		}
		var room string
		if req.Room != nil {
			room = *req.Room
			if room == "" {
				writeProblem(w, r, d.Logger, apperr.Invalid("room", "must not be empty (omit it to emit to everyone)"))
				return
			}
		}
		// The payload goes out as the client sent it (json.RawMessage
		// marshals verbatim); an absent data field is emitted as null.
		var data any
		if len(req.Data) > 0 {
			data = req.Data
		}
		for i := range count {
			var err error
			if room != "" {
				err = d.Emitter.EmitToRoom(room, *req.Event, data)
			} else {
				err = d.Emitter.EmitToAll(*req.Event, data)
			}
			if err != nil {
				writeProblem(w, r, d.Logger, fmt.Errorf("emit %d of %d: %w", i+1, count, err))
				return
			}
		}
		encode(w, http.StatusAccepted, emitResponse{Room: room, Event: *req.Event, Emitted: count})
	})
}

// handleDevAttendanceBroadcast sends the request body, as it is, to every
// plain WebSocket (attendance) client: the HTTP face of the module's
// Broadcast, for manual testing.
func handleDevAttendanceBroadcast(cfg Config, d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := claims(r); c.Role != auth.RoleAdmin {
			writeProblem(w, r, d.Logger, apperr.Errorf(apperr.CodeForbidden, "broadcasting needs an admin token"))
			return
		}
		var data json.RawMessage
		if err := decode(w, r, cfg.maxBody(), &data); err != nil {
			writeProblem(w, r, d.Logger, err)
			return
		}
		if err := d.Attendance.Broadcast(data); err != nil {
			writeProblem(w, r, d.Logger, fmt.Errorf("attendance broadcast: %w", err))
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
}
