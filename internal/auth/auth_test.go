package auth_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/eventide/realtime/internal/apperr"
	"github.com/eventide/realtime/internal/auth"
)

var (
	secret = []byte("0123456789abcdef0123456789abcdef")
	now    = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock  = func() time.Time { return now }
)

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func valid() jwt.MapClaims {
	return jwt.MapClaims{"sub": "u1", "role": "provider", "provider_id": "42", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
}

func with(k string, v any) jwt.MapClaims {
	c := valid()
	if v == nil {
		delete(c, k)
	} else {
		c[k] = v
	}
	return c
}

func pemOf(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// noneToken builds an unsigned alg=none token by hand.
func noneToken(claims jwt.MapClaims) string {
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	p, _ := json.Marshal(claims)
	return enc.EncodeToString(h) + "." + enc.EncodeToString(p) + "."
}

func TestVerifyHS256(t *testing.T) {
	v, err := auth.NewVerifier(secret, auth.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	good := sign(t, jwt.SigningMethodHS256, secret, valid())

	c, err := v.Verify(good)
	if err != nil {
		t.Fatalf("valid token rejected: %v", err)
	}
	if c.Subject != "u1" || c.Role != auth.RoleProvider || c.ProviderID != "42" || !c.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("claims = %+v", c)
	}

	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"u1","role":"admin","exp":9999999999}`)) + "." + parts[2]

	for _, tc := range []struct {
		name, token, want string
	}{
		{"empty", "", "missing"},
		{"garbage", "not.a.jwt", "malformed"},
		{"forged signature", sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret!!"), valid()), "bad signature"},
		{"tampered payload", tampered, "bad signature"},
		{"alg none", noneToken(valid()), "algorithm"},
		{"HS512 with the same secret", sign(t, jwt.SigningMethodHS512, secret, valid()), "algorithm"},
		{"RS256 token against a secret", sign(t, jwt.SigningMethodRS256, rsaKey, valid()), "algorithm"},
		{"expired", sign(t, jwt.SigningMethodHS256, secret, with("exp", now.Add(-time.Minute).Unix())), "expired"},
		{"no exp", sign(t, jwt.SigningMethodHS256, secret, with("exp", nil)), "exp"},
		{"not yet valid", sign(t, jwt.SigningMethodHS256, secret, with("nbf", now.Add(time.Hour).Unix())), "not valid yet"},
		{"no role", sign(t, jwt.SigningMethodHS256, secret, with("role", nil)), "role"},
		{"unknown role", sign(t, jwt.SigningMethodHS256, secret, with("role", "root")), "unknown role"},
		{"provider without provider_id", sign(t, jwt.SigningMethodHS256, secret, with("provider_id", nil)), "provider_id"},
		{"bad provider_id", sign(t, jwt.SigningMethodHS256, secret, with("provider_id", "4 2")), "provider_id"},
		{"bad providers", sign(t, jwt.SigningMethodHS256, secret, with("providers", []any{"ok", "no way"})), "providers"},
		{"providers object", sign(t, jwt.SigningMethodHS256, secret, with("providers", map[string]any{"a": 1})), "providers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(tc.token)
			if apperr.CodeOf(err) != apperr.CodeUnauthorized {
				t.Fatalf("error = %v, want unauthorized", err)
			}
			if !strings.Contains(apperr.MessageOf(err), tc.want) {
				t.Fatalf("message %q does not mention %q", apperr.MessageOf(err), tc.want)
			}
			if tc.token != "" && strings.Contains(apperr.MessageOf(err), tc.token) {
				t.Fatal("message contains the token")
			}
		})
	}
}

// TestLeeway checks the one leeway: a token is accepted until exp + leeway
// and refused from then on, whether its claims are remembered or not, and
// ValidUntil names that instant for the sockets that outlive the handshake.
func TestLeeway(t *testing.T) {
	tok := sign(t, jwt.SigningMethodHS256, secret, with("exp", now.Add(-10*time.Second).Unix()))
	v, _ := auth.NewVerifier(secret, auth.WithClock(clock))
	if v.Leeway() != auth.DefaultLeeway || auth.DefaultLeeway != 30*time.Second {
		t.Fatalf("Leeway = %v, DefaultLeeway = %v", v.Leeway(), auth.DefaultLeeway)
	}
	c, err := v.Verify(tok)
	if err != nil {
		t.Fatalf("10s past exp within default leeway: %v", err)
	}
	if want := now.Add(20 * time.Second); !v.ValidUntil(c).Equal(want) {
		t.Fatalf("ValidUntil = %v, want %v", v.ValidUntil(c), want)
	}
	strict, _ := auth.NewVerifier(secret, auth.WithClock(clock), auth.WithLeeway(0))
	if _, err := strict.Verify(tok); apperr.CodeOf(err) != apperr.CodeUnauthorized {
		t.Fatalf("no leeway: %v", err)
	}

	// At exp + leeway the token is refused, remembered or not.
	exp := now.Add(time.Minute)
	tok = sign(t, jwt.SigningMethodHS256, secret, with("exp", exp.Unix()))
	for _, remembered := range []bool{true, false} {
		at := now
		v, _ := auth.NewVerifier(secret, auth.WithClock(func() time.Time { return at }), auth.WithLeeway(5*time.Second))
		if remembered {
			if _, err := v.Verify(tok); err != nil {
				t.Fatal(err)
			}
		}
		at = exp.Add(5*time.Second - time.Nanosecond)
		if _, err := v.Verify(tok); err != nil {
			t.Fatalf("remembered=%v: refused just before exp + leeway: %v", remembered, err)
		}
		at = exp.Add(5 * time.Second)
		if _, err := v.Verify(tok); apperr.CodeOf(err) != apperr.CodeUnauthorized || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("remembered=%v: at exp + leeway: %v", remembered, err)
		}
	}
}

func TestProvidersClaimForms(t *testing.T) {
	v, _ := auth.NewVerifier(secret, auth.WithClock(clock))
	for _, tc := range []struct {
		name  string
		value any
		want  []string
	}{
		{"strings", []any{"42", "7"}, []string{"42", "7"}},
		{"numbers", []any{42, 7}, []string{"42", "7"}},
		{"star", "*", []string{"*"}},
		{"comma separated", "42, 7,x_y", []string{"42", "7", "x_y"}},
		{"single number", 42, []string{"42"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := jwt.MapClaims{"role": "client", "providers": tc.value, "exp": now.Add(time.Hour).Unix()}
			c, err := v.Verify(sign(t, jwt.SigningMethodHS256, secret, cl))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(c.Providers, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("providers = %q, want %q", c.Providers, tc.want)
			}
		})
	}
	// A numeric provider_id is accepted too.
	c, err := v.Verify(sign(t, jwt.SigningMethodHS256, secret, with("provider_id", 42)))
	if err != nil || c.ProviderID != "42" {
		t.Fatalf("numeric provider_id: %+v %v", c, err)
	}
}

func TestPublicKeyVerifiers(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)

	for _, tc := range []struct {
		name   string
		pub    any
		method jwt.SigningMethod
		priv   any
		alg    string
	}{
		{"RSA", &rsaKey.PublicKey, jwt.SigningMethodRS256, rsaKey, "RS256"},
		{"ECDSA", &ecKey.PublicKey, jwt.SigningMethodES256, ecKey, "ES256"},
		{"Ed25519", edPub, jwt.SigningMethodEdDSA, edPriv, "EdDSA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pub.pem")
			if err := os.WriteFile(path, pemOf(t, tc.pub), 0o600); err != nil {
				t.Fatal(err)
			}
			v, err := auth.LoadPublicKeyVerifier(path, auth.WithClock(clock))
			if err != nil {
				t.Fatal(err)
			}
			if v.Algorithm() != tc.alg {
				t.Fatalf("alg = %s, want %s", v.Algorithm(), tc.alg)
			}
			if _, err := v.Verify(sign(t, tc.method, tc.priv, valid())); err != nil {
				t.Fatalf("valid token rejected: %v", err)
			}
			// The classic confusion attack: an HS256 token whose "secret"
			// is the public key's PEM must not verify.
			confused := sign(t, jwt.SigningMethodHS256, pemOf(t, tc.pub), valid())
			if _, err := v.Verify(confused); apperr.CodeOf(err) != apperr.CodeUnauthorized {
				t.Fatalf("HS256 token against a public key: %v", err)
			}
			if _, err := v.Verify(noneToken(valid())); apperr.CodeOf(err) != apperr.CodeUnauthorized {
				t.Fatalf("alg none: %v", err)
			}
		})
	}
	v, _ := auth.NewPublicKeyVerifier(pemOf(t, &rsaKey.PublicKey), auth.WithClock(clock))
	if _, err := v.Verify(sign(t, jwt.SigningMethodRS256, otherRSA, valid())); apperr.CodeOf(err) != apperr.CodeUnauthorized {
		t.Fatalf("token of another RSA key: %v", err)
	}
	if _, err := auth.NewPublicKeyVerifier([]byte("nope")); err == nil {
		t.Fatal("garbage PEM accepted")
	}
	privDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	if _, err := auth.NewPublicKeyVerifier(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})); err == nil {
		t.Fatal("private key accepted as public key")
	}
}

func TestShortSecret(t *testing.T) {
	if _, err := auth.NewVerifier([]byte("short")); err == nil {
		t.Fatal("short secret accepted by NewVerifier")
	}
	if _, err := auth.NewMinter([]byte("short")); err == nil {
		t.Fatal("short secret accepted by NewMinter")
	}
}

func TestMintRoundTrip(t *testing.T) {
	m, err := auth.NewMinter(secret, auth.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := auth.NewVerifier(secret, auth.WithClock(clock))
	in := auth.Claims{Subject: "c1", Role: auth.RoleClient, Providers: []string{"42", "7"}}
	tok, exp, err := m.Mint(in, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(now.Add(2 * time.Hour)) {
		t.Fatalf("exp = %v", exp)
	}
	got, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "c1" || got.Role != auth.RoleClient || strings.Join(got.Providers, ",") != "42,7" || !got.ExpiresAt.Equal(exp) {
		t.Fatalf("round trip = %+v", got)
	}
	// The token expires for a verifier whose clock has moved on.
	later, _ := auth.NewVerifier(secret, auth.WithClock(func() time.Time { return now.Add(3 * time.Hour) }))
	if _, err := later.Verify(tok); apperr.CodeOf(err) != apperr.CodeUnauthorized {
		t.Fatalf("expired minted token accepted: %v", err)
	}
	for _, bad := range []auth.Claims{
		{Role: "root"},
		{Role: auth.RoleProvider},
		{Role: auth.RoleProvider, ProviderID: "a b"},
		{Role: auth.RoleClient, Providers: []string{"ok", ""}},
	} {
		if _, _, err := m.Mint(bad, time.Hour); apperr.CodeOf(err) != apperr.CodeInvalid {
			t.Errorf("Mint(%+v) error = %v, want invalid", bad, err)
		}
	}
	if _, _, err := m.Mint(auth.Claims{Role: auth.RoleAdmin}, 0); err == nil {
		t.Error("Mint without ttl or ExpiresAt succeeded")
	}
}

func TestPolicy(t *testing.T) {
	admin := auth.Claims{Role: auth.RoleAdmin}
	prov := auth.Claims{Role: auth.RoleProvider, ProviderID: "42"}
	client := auth.Claims{Role: auth.RoleClient, Providers: []string{"42", "7"}}
	star := auth.Claims{Role: auth.RoleClient, Providers: []string{"*"}}
	nobody := auth.Claims{Role: auth.RoleClient}
	unknown := auth.Claims{Role: "root", ProviderID: "42", Providers: []string{"*"}}
	for _, tc := range []struct {
		name         string
		c            auth.Claims
		provider     string
		watch, write bool
	}{
		{"admin any", admin, "99", true, true},
		{"provider own", prov, "42", true, true},
		{"provider other", prov, "7", false, false},
		{"provider prefix is not a match", prov, "420", false, false},
		{"client listed", client, "7", true, false},
		{"client not listed", client, "8", false, false},
		{"client star", star, "8", true, false},
		{"client none", nobody, "42", false, false},
		{"unknown role", unknown, "42", false, false},
		{"empty claims", auth.Claims{}, "42", false, false},
	} {
		if got := auth.CanWatch(tc.c, tc.provider); got != tc.watch {
			t.Errorf("%s: CanWatch = %v", tc.name, got)
		}
		if got := auth.CanWrite(tc.c, tc.provider); got != tc.write {
			t.Errorf("%s: CanWrite = %v", tc.name, got)
		}
	}
}

func TestContextAndTokenFromRequest(t *testing.T) {
	ctx := auth.WithClaims(t.Context(), auth.Claims{Subject: "x", Role: auth.RoleAdmin})
	if c, ok := auth.ClaimsFrom(ctx); !ok || c.Subject != "x" {
		t.Fatalf("ClaimsFrom = %+v %v", c, ok)
	}
	if _, ok := auth.ClaimsFrom(t.Context()); ok {
		t.Fatal("claims in an empty context")
	}
	r := httptest.NewRequest("GET", "/?token=q", nil)
	if got := auth.TokenFromRequest(r); got != "q" {
		t.Fatalf("query token = %q", got)
	}
	r.Header.Set("Authorization", "Bearer h")
	if got := auth.TokenFromRequest(r); got != "h" {
		t.Fatalf("header token = %q", got)
	}
	r.Header.Set("Authorization", "Basic abc")
	if got := auth.TokenFromRequest(r); got != "" {
		t.Fatalf("basic auth taken as a token: %q", got)
	}
}

// TestVerifiedTokensRemembered checks the cache of verified tokens: the same
// token verifies again with the same claims, a token that expired since is
// refused, and a token that differs only in its signature is refused even
// though the genuine one is remembered.
func TestVerifiedTokensRemembered(t *testing.T) {
	at := now
	v, _ := auth.NewVerifier(secret, auth.WithClock(func() time.Time { return at }), auth.WithLeeway(0))
	tok := sign(t, jwt.SigningMethodHS256, secret, with("exp", now.Add(time.Minute).Unix()))
	first, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	again, err := v.Verify(tok)
	if err != nil || again.Subject != first.Subject || !again.ExpiresAt.Equal(first.ExpiresAt) {
		t.Fatalf("second Verify = %+v, %v; want %+v", again, err, first)
	}
	forged := tok[:len(tok)-2] + "AA"
	if forged == tok {
		forged = tok[:len(tok)-2] + "BB"
	}
	if _, err := v.Verify(forged); apperr.CodeOf(err) != apperr.CodeUnauthorized {
		t.Fatalf("forged signature: %v", err)
	}
	at = now.Add(2 * time.Minute)
	if _, err := v.Verify(tok); apperr.CodeOf(err) != apperr.CodeUnauthorized || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("after exp: %v", err)
	}
}
