package auth

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/eventide/realtime/internal/apperr"
)

// Roles a token can carry.
const (
	RoleProvider = "provider" // acts for one provider (ProviderID): watches and writes its slots
	RoleClient   = "client"   // watches the providers in Providers ("*" = all), writes nothing
	RoleAdmin    = "admin"    // watches and writes everything
)

// AllProviders in Claims.Providers lets a client watch every provider.
const AllProviders = "*"

// Claims is what a verified token says about its bearer.
type Claims struct {
	Subject    string
	Role       string
	ProviderID string   // for RoleProvider
	Providers  []string // for RoleClient; ["*"] = all
	ExpiresAt  time.Time
}

var providerIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidProviderID reports whether id is a well-formed provider id:
// 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'.
func ValidProviderID(id string) bool { return providerIDPattern.MatchString(id) }

// CanWatch reports whether c may see providerID's slots (and receive its
// changes: internal/realtime maps a room to its provider id and asks this):
// admins any, a provider its own, a client those listed (or all with "*").
func CanWatch(c Claims, providerID string) bool {
	switch c.Role {
	case RoleAdmin:
		return true
	case RoleProvider:
		return c.ProviderID != "" && c.ProviderID == providerID
	case RoleClient:
		return slices.Contains(c.Providers, AllProviders) || slices.Contains(c.Providers, providerID)
	}
	return false
}

// CanWrite reports whether c may create, change or delete providerID's
// slots: admins and that provider only.
func CanWrite(c Claims, providerID string) bool {
	switch c.Role {
	case RoleAdmin:
		return true
	case RoleProvider:
		return c.ProviderID != "" && c.ProviderID == providerID
	}
	return false
}

// Validate checks the claims a Verifier insists on: a known role, a
// well-formed ProviderID (required for RoleProvider) and well-formed
// Providers entries. Failures are apperr "invalid" errors whose Field is the
// REST name ("role", "providerId", "providers").
func (c Claims) Validate() error {
	switch c.Role {
	case RoleAdmin, RoleProvider, RoleClient:
	case "":
		return apperr.Invalid("role", "is required (provider, client or admin)")
	default:
		return apperr.Invalid("role", fmt.Sprintf("unknown role %q (want provider, client or admin)", c.Role))
	}
	if c.ProviderID != "" && !ValidProviderID(c.ProviderID) {
		return apperr.Invalid("providerId", "must be 1-64 characters of A-Z a-z 0-9 _ -")
	}
	if c.Role == RoleProvider && c.ProviderID == "" {
		return apperr.Invalid("providerId", "is required for the provider role")
	}
	for _, p := range c.Providers {
		if p != AllProviders && !ValidProviderID(p) {
			return apperr.Invalid("providers", fmt.Sprintf("bad provider id %q", p))
		}
	}
	return nil
}
