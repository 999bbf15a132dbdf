package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/eventide/realtime/internal/apperr"
)

// MinSecretLen is the shortest HS256 secret accepted, in bytes.
const MinSecretLen = 16

// DefaultLeeway is the clock skew tolerated on exp and nbf: a token is
// accepted until exp + leeway. Everything that checks a token's time (REST,
// the Socket.IO handshake, the expiry of live sockets) uses the Verifier's
// one leeway, so a token is never accepted in one place and refused in
// another (see Verifier.Leeway).
const DefaultLeeway = 30 * time.Second

// Option configures a Verifier or a Minter.
type Option func(*options)

type options struct {
	now    func() time.Time
	leeway time.Duration
}

// WithClock makes the Verifier or Minter read the time from now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLeeway sets the tolerated clock skew on exp and nbf (default DefaultLeeway).
func WithLeeway(d time.Duration) Option { return func(o *options) { o.leeway = d } }

func buildOptions(opts []Option) options {
	o := options{now: time.Now, leeway: DefaultLeeway}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Verifier checks a token's signature and claims. It accepts exactly one
// algorithm, fixed when it is built, so a token signed with another one
// (alg "none", HS256 against a public key, RS256 against a secret) is
// rejected before any key is used. It is safe for concurrent use.
type Verifier struct {
	alg    string
	key    any
	parser *jwt.Parser
	now    func() time.Time
	leeway time.Duration

	// verified remembers the claims of tokens that passed, until they
	// expire: a client sends the same token with every request, and
	// checking it again (base64, HMAC or signature, JSON) is a tenth of a
	// small REST call. The key is the whole token, signature included, so
	// only a token that verified is ever found.
	mu       sync.Mutex
	verified map[string]Claims
}

// maxVerified bounds the Verifier's cache of verified tokens.
const maxVerified = 4096

// NewVerifier returns a Verifier for HS256 tokens signed with secret, which
// must be at least MinSecretLen bytes.
func NewVerifier(secret []byte, opts ...Option) (*Verifier, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("auth: the HS256 secret must be at least %d bytes", MinSecretLen)
	}
	return newVerifier(jwt.SigningMethodHS256.Alg(), append([]byte(nil), secret...), buildOptions(opts)), nil
}

// NewPublicKeyVerifier returns a Verifier for tokens signed with the private
// half of the PEM-encoded public key: RSA -> RS256, ECDSA P-256/P-384/P-521 ->
// ES256/ES384/ES512, Ed25519 -> EdDSA. The PEM may hold a PKIX public key,
// a PKCS#1 RSA public key or a certificate.
func NewPublicKeyVerifier(pemData []byte, opts ...Option) (*Verifier, error) {
	key, err := parsePublicKey(pemData)
	if err != nil {
		return nil, err
	}
	var alg string
	switch k := key.(type) {
	case *rsa.PublicKey:
		alg = jwt.SigningMethodRS256.Alg()
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			alg = jwt.SigningMethodES256.Alg()
		case elliptic.P384():
			alg = jwt.SigningMethodES384.Alg()
		case elliptic.P521():
			alg = jwt.SigningMethodES512.Alg()
		default:
			return nil, errors.New("auth: unsupported ECDSA curve")
		}
	case ed25519.PublicKey:
		alg = jwt.SigningMethodEdDSA.Alg()
	default:
		return nil, fmt.Errorf("auth: unsupported public key type %T", key)
	}
	return newVerifier(alg, key, buildOptions(opts)), nil
}

// LoadPublicKeyVerifier reads a PEM file and calls NewPublicKeyVerifier.
func LoadPublicKeyVerifier(path string, opts ...Option) (*Verifier, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: read public key: %w", err)
	}
	return NewPublicKeyVerifier(data, opts...)
}

func parsePublicKey(data []byte) (any, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("auth: public key: no PEM block found")
	}
	switch block.Type {
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("auth: public key certificate: %w", err)
		}
		return cert.PublicKey, nil
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("auth: RSA public key: %w", err)
		}
		return k, nil
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("auth: public key: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("auth: public key: unexpected PEM block %q (a private key?)", block.Type)
}

func newVerifier(alg string, key any, o options) *Verifier {
	return &Verifier{
		alg:    alg,
		key:    key,
		now:    o.now,
		leeway: o.leeway,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{alg}),
			jwt.WithExpirationRequired(),
			jwt.WithLeeway(o.leeway),
			jwt.WithTimeFunc(o.now),
			jwt.WithJSONNumber(),
		),
	}
}

// Algorithm returns the one JWT "alg" the Verifier accepts.
func (v *Verifier) Algorithm() string { return v.alg }

// Leeway returns the clock skew the Verifier tolerates on exp and nbf.
func (v *Verifier) Leeway() time.Duration { return v.leeway }

// ValidUntil returns the instant from which the Verifier refuses a token
// with claims c: its exp plus the leeway. A socket authenticated with the
// token ends then, so a client is never let in at the handshake and kicked
// at once, nor kept connected with a token REST would refuse.
func (v *Verifier) ValidUntil(c Claims) time.Time { return c.ExpiresAt.Add(v.leeway) }

// Verify checks token and returns its claims. Every failure is an apperr
// "unauthorized" error whose message says what is wrong (never the token).
func (v *Verifier) Verify(token string) (Claims, error) {
	if token == "" {
		return Claims{}, apperr.Errorf(apperr.CodeUnauthorized, "missing bearer token")
	}
	v.mu.Lock()
	c, ok := v.verified[token]
	v.mu.Unlock()
	if ok && v.now().Before(v.ValidUntil(c)) { // the parser's rule, with the same leeway
		return c, nil
	}
	mc := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(token, mc, func(t *jwt.Token) (any, error) { return v.key, nil })
	if err != nil {
		return Claims{}, apperr.Wrap(apperr.CodeUnauthorized, err, "invalid token: "+reason(err, v.alg))
	}
	c, err = claimsFromMap(mc)
	if err != nil {
		return Claims{}, err
	}
	v.remember(token, c)
	return c, nil
}

// remember caches c for token, dropping an arbitrary entry when full.
func (v *Verifier) remember(token string, c Claims) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.verified == nil {
		v.verified = make(map[string]Claims)
	}
	if len(v.verified) >= maxVerified {
		for k := range v.verified {
			delete(v.verified, k)
			break
		}
	}
	v.verified[token] = c
}

// reason turns a jwt error into a short message for the client.
func reason(err error, alg string) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if strings.Contains(err.Error(), "signing method") {
			return "signing algorithm not accepted (want " + alg + ")"
		}
		return "bad signature"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "signing algorithm not accepted (want " + alg + ")"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "exp claim is required"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "issued in the future"
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		return "invalid claims"
	}
	return "rejected"
}

func claimsFromMap(mc jwt.MapClaims) (Claims, error) {
	bad := func(format string, args ...any) (Claims, error) {
		return Claims{}, apperr.Errorf(apperr.CodeUnauthorized, "invalid token: "+format, args...)
	}
	var c Claims
	if s, ok := mc["sub"].(string); ok {
		c.Subject = s
	} else if mc["sub"] != nil {
		return bad("sub must be a string")
	}
	exp, err := mc.GetExpirationTime()
	if err != nil || exp == nil {
		return bad("exp claim is required")
	}
	c.ExpiresAt = exp.Time
	role, _ := mc["role"].(string)
	switch role {
	case RoleAdmin, RoleProvider, RoleClient:
		c.Role = role
	case "":
		return bad("role claim is required")
	default:
		return bad("unknown role %q", role)
	}
	if v, ok := mc["provider_id"]; ok && v != nil {
		id, ok := scalarString(v)
		if !ok || !ValidProviderID(id) {
			return bad("provider_id must be 1-64 characters of A-Z a-z 0-9 _ -")
		}
		c.ProviderID = id
	}
	if c.Role == RoleProvider && c.ProviderID == "" {
		return bad("a provider token needs provider_id")
	}
	if v, ok := mc["providers"]; ok && v != nil {
		ps, err := parseProviders(v)
		if err != nil {
			return bad("providers: %s", err.Error())
		}
		c.Providers = ps
	}
	return c, nil
}

// scalarString accepts a JSON string or number (ids are often numeric).
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

// parseProviders accepts a JSON array of strings or numbers, "*", or a
// comma-separated string.
func parseProviders(v any) ([]string, error) {
	var raw []string
	switch x := v.(type) {
	case string:
		for p := range strings.SplitSeq(x, ",") {
			if p = strings.TrimSpace(p); p != "" {
				raw = append(raw, p)
			}
		}
	case []any:
		for _, e := range x {
			s, ok := scalarString(e)
			if !ok {
				return nil, errors.New("must hold strings or numbers")
			}
			raw = append(raw, s)
		}
	default:
		if s, ok := scalarString(v); ok {
			raw = []string{s}
			break
		}
		return nil, errors.New("must be an array, \"*\" or a comma-separated string")
	}
	out := make([]string, 0, len(raw))
	for _, p := range raw {
		if p != AllProviders && !ValidProviderID(p) {
			return nil, fmt.Errorf("bad provider id %q", p)
		}
		out = append(out, p)
	}
	return out, nil
}
