package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// devSecretMinLen is the least a kept dev secret holds; a shorter file
// (truncated, or written by hand) is replaced by serve and refused by token.
const devSecretMinLen = 32

// loadDevSecret reads the dev secret kept under the data directory, or
// generates and keeps one, so dev tokens survive restarts and `eventide
// token` can sign with it.
func (c *config) loadDevSecret() error {
	secret, err := readDevSecret(c.secretFile)
	if err == nil {
		c.JWTSecret = secret
		c.secretLoaded = true
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, errShortSecret) {
		return err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("generate dev secret: %w", err)
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("create the data directory (--data-dir %s): %w", c.DataDir, err)
	}
	secret = hex.EncodeToString(raw)
	if err := os.WriteFile(c.secretFile, []byte(secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("keep the dev secret: %w", err)
	}
	c.JWTSecret = secret
	c.secretGenerated = true
	return nil
}

var errShortSecret = errors.New("holds no secret")

// readDevSecret reads a kept dev secret.
func readDevSecret(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		return "", fmt.Errorf("read the dev secret: %w", err)
	}
	secret := strings.TrimSpace(string(b))
	if len(secret) < devSecretMinLen {
		return "", fmt.Errorf("%s %w (%d bytes, at least %d needed)", absPath(file), errShortSecret, len(secret), devSecretMinLen)
	}
	return secret, nil
}

// absPath is path made absolute for messages, so that a user can tell two
// working directories' ./data apart.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// logDevMode says what dev mode allows that production does not, as
// configured, and where the JWT secret is kept.
func logDevMode(log *slog.Logger, cfg *config) {
	if cfg.production() {
		return
	}
	cors := "CORS allows any origin"
	if len(cfg.CORSOrigins) > 0 && !slices.Contains(cfg.CORSOrigins, "*") {
		cors = "CORS allows only --cors-origins (" + strings.Join(cfg.CORSOrigins, ", ") + ")"
	}
	parts := []string{cors}
	if cfg.JWTSecret != "" {
		parts = append(parts, "POST /api/v1/dev/token mints tokens")
	}
	parts = append(parts, "the plain WebSocket needs no token and takes any origin")
	log.Warn("dev mode: " + strings.Join(parts, ", "))
	switch {
	case cfg.secretGenerated:
		log.Warn("dev mode: generated a JWT secret; eventide token signs with it when given the same --data-dir", "file", absPath(cfg.secretFile))
	case cfg.secretLoaded:
		log.Info("dev mode: JWT secret kept", "file", absPath(cfg.secretFile))
	}
}
