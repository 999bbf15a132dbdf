package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Minter signs HS256 tokens with a shared secret; `eventide token` and the
// dev token endpoint use it. A Verifier built from the same secret accepts
// its tokens.
type Minter struct {
	secret []byte
	now    func() time.Time
}

// NewMinter returns a Minter for secret (at least MinSecretLen bytes).
// Only WithClock applies.
func NewMinter(secret []byte, opts ...Option) (*Minter, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("auth: the HS256 secret must be at least %d bytes", MinSecretLen)
	}
	o := buildOptions(opts)
	return &Minter{secret: append([]byte(nil), secret...), now: o.now}, nil
}

// Mint signs c. The token expires ttl from now (c.ExpiresAt is ignored when
// ttl > 0 and used as is otherwise). It returns the token and its expiry.
// The claims are checked first with Claims.Validate, so a Minter never
// produces a token the Verifier would reject.
func (m *Minter) Mint(c Claims, ttl time.Duration) (token string, exp time.Time, err error) {
	now := m.now()
	exp = c.ExpiresAt
	if ttl > 0 {
		exp = now.Add(ttl)
	}
	if exp.IsZero() {
		return "", time.Time{}, errors.New("auth: mint: a ttl or ExpiresAt is required")
	}
	exp = exp.Truncate(time.Second)
	mc := jwt.MapClaims{
		"role": c.Role,
		"exp":  exp.Unix(),
		"iat":  now.Unix(),
	}
	if c.Subject != "" {
		mc["sub"] = c.Subject
	}
	if c.ProviderID != "" {
		mc["provider_id"] = c.ProviderID
	}
	if c.Providers != nil {
		mc["providers"] = c.Providers
	}
	if err := c.Validate(); err != nil {
		return "", time.Time{}, err
	}
	token, err = jwt.NewWithClaims(jwt.SigningMethodHS256, mc).SignedString(m.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: mint: %w", err)
	}
	return token, exp, nil
}
