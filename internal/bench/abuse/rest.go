package abuse

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/eventide/realtime/internal/bench"
)

// rest is the tool's REST client, with the admin token.
type rest struct {
	base   string
	token  string
	client *http.Client
}

func (r *rest) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, b, err
}

// devToken asks the dev endpoint for a token with the given claims.
func (r *rest) devToken(ctx context.Context, claims string) (string, error) {
	status, b, err := r.do(ctx, http.MethodPost, "/api/v1/dev/token", []byte(claims))
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("POST /api/v1/dev/token: %d %.200s", status, b)
	}
	var t struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(b, &t); err != nil || t.Token == "" {
		return "", fmt.Errorf("POST /api/v1/dev/token: no token in %.200s", b)
	}
	return t.Token, nil
}

// slotIDs lists a provider's slot ids (the first page, if the server pages).
func (r *rest) slotIDs(ctx context.Context, provider string) ([]int64, error) {
	status, b, err := r.do(ctx, http.MethodGet, "/api/v1/providers/"+provider+"/slots", nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("list %s: %d %.200s", provider, status, b)
	}
	var l struct {
		Slots []struct {
			ID int64 `json:"id"`
		} `json:"slots"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("list %s: %w", provider, err)
	}
	ids := make([]int64, len(l.Slots))
	for i, s := range l.Slots {
		ids[i] = s.ID
	}
	return ids, nil
}

// createSlot creates slot i of provider: 30 minutes starting i hours after
// 2031-01-01, so every run creates the same ones (409 when it exists).
func (r *rest) createSlot(ctx context.Context, provider string, i int) (int, int64, error) {
	start := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
	body := fmt.Sprintf(`{"start":%q,"end":%q,"note":"abuse %d"}`, start.Format(time.RFC3339), start.Add(30*time.Minute).Format(time.RFC3339), i)
	status, b, err := r.do(ctx, http.MethodPost, "/api/v1/providers/"+provider+"/slots", []byte(body))
	if err != nil || status != http.StatusCreated {
		return status, 0, err
	}
	var s struct {
		ID int64 `json:"id"`
	}
	err = json.Unmarshal(b, &s)
	return status, s.ID, err
}

// Probe is one attempt, on a new connection, to be served.
type Probe struct {
	Took time.Duration
	Err  string // "" when served
}

func (p Probe) served() bool { return p.Err == "" && p.Took > 0 }

// probeREST lists the canary's slots on a connection of its own.
func probeREST(ctx context.Context, base, token string, timeout time.Duration) Probe {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r := &rest{base: base, token: token, client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
	start := time.Now()
	status, b, err := r.do(ctx, http.MethodGet, "/api/v1/providers/"+canaryProvider+"/slots", nil)
	took := time.Since(start)
	switch {
	case err != nil:
		return Probe{Took: took, Err: errClass(err)}
	case status != http.StatusOK:
		return Probe{Took: took, Err: fmt.Sprintf("HTTP %d %.80s", status, b)}
	}
	return Probe{Took: took}
}

// probeSocketIO connects a new Socket.IO client and joins the canary room.
func probeSocketIO(ctx context.Context, url, token string, timeout time.Duration) Probe {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	c, err := bench.Dial(ctx, bench.DialConfig{URL: url, Connect: bench.ConnectPacket(token), Room: "provider-" + canaryProvider})
	took := time.Since(start)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Probe{Took: took, Err: "timeout"}
		}
		return Probe{Took: took, Err: errClass(err)}
	}
	c.Close()
	return Probe{Took: took}
}
