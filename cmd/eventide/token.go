package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/eventide/realtime/internal/auth"
)

// runToken prints a token signed with the same configuration serve uses, so
// `eventide token` in the same environment mints tokens the server accepts.
func runToken(_ context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, origins := bindConfig(fs, lookupEnv)
	sub := fs.String("sub", "", "subject (required)")
	role := fs.String("role", "", "provider, client or admin (required)")
	providerID := fs.String("provider-id", "", "the provider a provider token acts for")
	providers := fs.String("providers", "", "providers a client may watch: 42,43 or *")
	ttl := fs.Duration("ttl", time.Hour, "lifetime; zero or negative mints an expired token")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.finish(*origins, false); err != nil {
		return err
	}
	if *sub == "" || *role == "" {
		fs.Usage()
		return errors.New("--sub and --role are required")
	}
	if cfg.JWTSecret == "" {
		return errors.New("minting needs the HS256 secret (--jwt-secret); a public key only verifies")
	}
	minter, err := auth.NewMinter([]byte(cfg.JWTSecret))
	if err != nil {
		return err
	}
	c := auth.Claims{Subject: *sub, Role: *role, ProviderID: *providerID}
	for _, p := range strings.Split(*providers, ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.Providers = append(c.Providers, p)
		}
	}
	if *ttl <= 0 {
		// A non-positive ttl mints an already expired token, which is
		// what tests of expiry need.
		c.ExpiresAt = time.Now().Add(*ttl)
		*ttl = 0
	}
	tok, _, err := minter.Mint(c, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
