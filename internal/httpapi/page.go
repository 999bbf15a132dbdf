package httpapi

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/eventide/realtime/internal/apperr"
	"github.com/eventide/realtime/internal/availability"
)

// Page sizes of GET .../slots when Config leaves them zero.
const (
	DefaultPageSize    = 100
	DefaultMaxPageSize = 500
)

// cursorVersion prefixes every cursor, so the format can change without a
// client's saved cursor being misread.
const cursorVersion = "1"

// slotCursor is the position after which the next page starts: the last
// slot of the previous page, in list order (start, then id).
type slotCursor struct {
	startMs int64
	id      int64
}

// encodeCursor returns the opaque cursor that continues after s.
func encodeCursor(s availability.Slot) string {
	raw := cursorVersion + "." + strconv.FormatInt(s.Start.UnixMilli(), 10) + "." + strconv.FormatInt(s.ID, 10)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

var errBadCursor = apperr.Invalid("cursor", "is not a cursor this server returned (pass nextCursor unchanged)")

// decodeCursor parses a cursor made by encodeCursor.
func decodeCursor(c string) (slotCursor, error) {
	if len(c) > 64 {
		return slotCursor{}, errBadCursor
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return slotCursor{}, errBadCursor
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 3 || parts[0] != cursorVersion {
		return slotCursor{}, errBadCursor
	}
	start, ok1 := parseCanonicalInt(parts[1], true)
	id, ok2 := parseCanonicalInt(parts[2], false)
	if !ok1 || !ok2 {
		return slotCursor{}, errBadCursor
	}
	return slotCursor{startMs: start, id: id}, nil
}

// after reports whether s comes after the cursor in list order.
func (c slotCursor) after(s availability.Slot) bool {
	ms := s.Start.UnixMilli()
	return ms > c.startMs || ms == c.startMs && s.ID > c.id
}

// slotList is one page of a provider's slots. It is an object so it can
// grow; NextCursor is absent on the last page. Seq is the provider's seq read
// before the slots: a client applies the changes after it (ADR 0014).
type slotList struct {
	ProviderID string              `json:"providerId"`
	Seq        int64               `json:"seq"`
	Slots      []availability.Slot `json:"slots"`
	NextCursor string              `json:"nextCursor,omitempty"`
}

// listQuery is what a list request asks for: a window and a page of it.
type listQuery struct {
	window availability.Window
	limit  int
	cursor *slotCursor
}

// readListQuery reads ?from=, ?to=, ?limit= and ?cursor=.
func readListQuery(cfg Config, r *http.Request) (listQuery, error) {
	q := r.URL.Query()
	lq := listQuery{limit: cfg.pageSize()}
	var err error
	if v := q.Get("from"); v != "" {
		if lq.window.From, err = parseTime("from", v); err != nil {
			return lq, err
		}
	}
	if v := q.Get("to"); v != "" {
		if lq.window.To, err = parseTime("to", v); err != nil {
			return lq, err
		}
	}
	if err := lq.window.Validate(); err != nil {
		return lq, err
	}
	if v := q.Get("limit"); v != "" {
		n, ok := parseCanonicalInt(v, false)
		if !ok || n > int64(cfg.maxPageSize()) {
			return lq, apperr.Invalid("limit", fmt.Sprintf("must be an integer between 1 and %d", cfg.maxPageSize()))
		}
		lq.limit = int(n)
	}
	if v := q.Get("cursor"); v != "" {
		c, err := decodeCursor(v)
		if err != nil {
			return lq, err
		}
		lq.cursor = &c
	}
	return lq, nil
}

// list reads the page of providerID's slots that q asks for.
func (q listQuery) list(ctx context.Context, slots *availability.Service, providerID string) (slotList, error) {
	// The seq before the slots, so the slots are at least as new.
	seq, err := slots.Seq(ctx, providerID)
	if err != nil {
		return slotList{}, err
	}
	out := slotList{ProviderID: providerID, Seq: seq, Slots: []availability.Slot{}}
	w := q.window
	if q.cursor != nil {
		// A slot after the cursor starts at or after the cursor's start,
		// so it ends after it: slots ending at or before that instant
		// cannot follow and need not be read.
		from := time.UnixMilli(q.cursor.startMs).UTC()
		if w.From.IsZero() || from.After(w.From) {
			w.From = from
		}
		if !w.To.IsZero() && !w.From.Before(w.To) {
			return out, nil // the cursor is past the window's end
		}
	}
	all, err := slots.List(ctx, providerID, w)
	if err != nil {
		return out, err
	}
	if q.cursor != nil {
		i := 0
		for i < len(all) && !q.cursor.after(all[i]) {
			i++
		}
		all = all[i:]
	}
	if len(all) <= q.limit {
		if len(all) > 0 {
			out.Slots = all
		}
		return out, nil
	}
	out.Slots = all[:q.limit:q.limit]
	out.NextCursor = encodeCursor(out.Slots[len(out.Slots)-1])
	return out, nil
}
