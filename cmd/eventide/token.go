package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/eventide/realtime/internal/auth"
)

// tokenCommand is `eventide token`: its own flags, and the four of serve
// that say which secret the server verifies with.
func tokenCommand(fs, serve *flag.FlagSet) *command {
	return &command{
		name:     "token",
		synopsis: "token --sub S --role provider|client|admin [--provider-id P] [--providers 42,43|*] [--ttl 1h]",
		about: `Prints a JWT that "eventide serve" accepts, signed with the server's HS256 secret:
--jwt-secret (EVENTIDE_JWT_SECRET) when given, else the dev secret that serve keeps in
<data-dir>/jwt-secret (generated on its first start in dev). token never creates a
secret: run it with the server's --data-dir (or from the directory the server runs in),
or give the server's --jwt-secret. It says on stderr which secret it signed with.

Examples:
  eventide token --sub alice --role provider --provider-id 42
  eventide token --sub bob --role client --providers 42,43 --ttl 8h
  eventide token --sub ops --role admin`,
		fs:     fs,
		shared: []string{"data-dir", "env", "jwt-public-key", "jwt-secret"},
		serve:  serve,
	}
}

// runToken prints a token signed with the secret serve verifies with, so
// a token minted in the same environment is one the server accepts.
func runToken(_ context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	serveFS, cfg, _ := newServeFlags(lookupEnv)
	fs := newFlagSet("token")
	cmd := tokenCommand(fs, serveFS)
	borrow(fs, serveFS, cmd.shared...)
	sub := fs.String("sub", "", "subject: who the token is for, as the server logs it (required)")
	role := fs.String("role", "", "provider, client or admin (required)")
	providerID := fs.String("provider-id", "", "for --role provider (required there): the provider the token acts for")
	providers := fs.String("providers", "", "for --role client (required there): the providers it may watch, 42,43 or * for all")
	ttl := fs.Duration("ttl", time.Hour, "lifetime; zero or negative mints an already expired token")
	if help, err := cmd.parse(args, stdout); help || err != nil {
		return err
	}
	claims, err := tokenClaims(cmd, *sub, *role, *providerID, *providers)
	if err != nil {
		return err
	}
	var p problems
	checkEnv(fs, lookupEnv, &p)
	cfg.checkEnvName(&p)
	cfg.checkAuth(&p)
	if err := p.err(); err != nil {
		return err
	}
	secret, source, err := tokenSecret(cfg, fs, lookupEnv)
	if err != nil {
		return err
	}
	minter, err := auth.NewMinter([]byte(secret))
	if err != nil {
		return err
	}
	if *ttl <= 0 {
		// A non-positive ttl mints an already expired token, which is
		// what tests of expiry need.
		claims.ExpiresAt = time.Now().Add(*ttl)
		*ttl = 0
	}
	tok, exp, err := minter.Mint(claims, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	fmt.Fprintf(stderr, "eventide token: signed with %s; expires %s\n", source, exp.Format(time.RFC3339))
	return nil
}

// tokenClaims checks the claim flags together, in their own terms, and
// refuses a token that could do nothing: a provider without its provider, a
// client without providers to watch.
func tokenClaims(cmd *command, sub, role, providerID, providers string) (auth.Claims, error) {
	c := auth.Claims{Subject: sub, Role: role, ProviderID: providerID}
	for _, id := range strings.Split(providers, ",") {
		if id = strings.TrimSpace(id); id != "" {
			c.Providers = append(c.Providers, id)
		}
	}
	var p problems
	if sub == "" {
		p.addf("--sub is required (who the token is for)")
	}
	switch role {
	case auth.RoleProvider:
		if providerID == "" {
			p.addf("--role provider needs --provider-id (the provider the token acts for)")
		}
	case auth.RoleClient:
		if len(c.Providers) == 0 {
			p.addf("--role client needs --providers (42,43 or * for all): without it the token can watch nothing")
		}
	case auth.RoleAdmin:
	case "":
		p.addf("--role is required: provider, client or admin")
	default:
		p.addf("--role must be provider, client or admin, not %q", role)
	}
	if providerID != "" {
		if role != auth.RoleProvider && role != "" {
			p.addf("--provider-id is for --role provider; a %s token does not carry it", role)
		} else if !auth.ValidProviderID(providerID) {
			p.addf("--provider-id %q: a provider id is 1 to 64 of A-Z a-z 0-9 _ -", providerID)
		}
	}
	if len(c.Providers) > 0 {
		if role != auth.RoleClient && role != "" {
			p.addf("--providers is for --role client; a %s token does not carry it", role)
		} else {
			for _, id := range c.Providers {
				if id != auth.AllProviders && !auth.ValidProviderID(id) {
					p.addf("--providers: %q is not a provider id (1 to 64 of A-Z a-z 0-9 _ -) or *", id)
				}
			}
		}
	}
	if len(p) > 0 {
		return c, cmd.usageErrorf("%s", strings.Join(p, "; "))
	}
	return c, nil
}

// tokenSecret finds the secret serve verifies with, as serve does, without
// ever creating one, and says where it came from.
func tokenSecret(cfg *config, fs *flag.FlagSet, lookupEnv func(string) (string, bool)) (secret, source string, err error) {
	given := func(name, key string) string {
		if isSet(fs, name) {
			return "--" + name
		}
		return key
	}
	if cfg.JWTPublicKey != "" {
		return "", "", fmt.Errorf("the server verifies tokens with the public key of %s (%s): it accepts only tokens signed with the matching private key, which token does not have", given("jwt-public-key", "EVENTIDE_JWT_PUBLIC_KEY"), cfg.JWTPublicKey)
	}
	if cfg.JWTSecret != "" {
		return cfg.JWTSecret, "the secret of " + given("jwt-secret", "EVENTIDE_JWT_SECRET"), nil
	}
	if cfg.production() {
		return "", "", errors.New("production: token needs the server's --jwt-secret (EVENTIDE_JWT_SECRET); a production server keeps no dev secret")
	}
	file := filepath.Join(cfg.DataDir, "jwt-secret")
	secret, err = readDevSecret(file)
	if errors.Is(err, os.ErrNotExist) {
		return "", "", fmt.Errorf(`no JWT secret: %s does not exist (--data-dir %s). "eventide serve" creates it on its first start in dev; run token with the server's --data-dir (or in the directory the server runs in), or give the server's --jwt-secret`, absPath(file), cfg.DataDir)
	}
	if err != nil {
		return "", "", err
	}
	return secret, "the dev secret in " + absPath(file), nil
}
