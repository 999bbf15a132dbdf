package availability

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/eventide/realtime/internal/apperr"
)

// Slot statuses.
const (
	StatusAvailable = "available"
	StatusBooked    = "booked"
	StatusBlocked   = "blocked"
)

// MaxNoteLen is the longest note, in characters (runes).
const MaxNoteLen = 500

// TimePrecision is the resolution slot times are kept at; every store keeps
// the same, so a slot reads back exactly as it was returned on write.
const TimePrecision = time.Millisecond

// Slot is a period of a provider's time. Intervals are half-open
// [Start, End): a slot ending at 10:00 and one starting at 10:00 do not
// overlap.
type Slot struct {
	ID         int64     `json:"id"`
	ProviderID string    `json:"providerId"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Status     string    `json:"status"`
	Note       string    `json:"note"`
	Version    int64     `json:"version"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// Overlaps reports whether s and o share any instant (half-open intervals).
func (s Slot) Overlaps(o Slot) bool { return s.Start.Before(o.End) && o.Start.Before(s.End) }

// NewSlot is the input of Service.Create.
type NewSlot struct {
	Start  time.Time
	End    time.Time
	Status string // "" = available
	Note   string
}

// Patch is the input of Service.Update; nil fields keep their value.
type Patch struct {
	Start  *time.Time
	End    *time.Time
	Status *string
	Note   *string
}

// Window restricts List to slots overlapping [From, To); a zero bound is open.
type Window struct {
	From time.Time
	To   time.Time
}

// Validate checks the window's bounds.
func (w Window) Validate() error {
	if !w.From.IsZero() && !w.To.IsZero() && !w.From.Before(w.To) {
		return apperr.Invalid("to", "must be after from")
	}
	return nil
}

// Contains reports whether s overlaps the window.
func (w Window) Contains(s Slot) bool {
	return (w.From.IsZero() || s.End.After(w.From)) && (w.To.IsZero() || s.Start.Before(w.To))
}

// ParseTime parses an RFC 3339 time for the input field name, returning an
// apperr "invalid" error naming the field when it is malformed.
func ParseTime(field, value string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, value)
	if err != nil {
		return time.Time{}, apperr.Invalid(field, fmt.Sprintf("must be an RFC 3339 time such as 2026-01-02T15:04:05Z, got %q", value))
	}
	if err := checkYear(field, t); err != nil {
		return time.Time{}, err
	}
	return normalize(t), nil
}

func checkYear(field string, t time.Time) error {
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return apperr.Invalid(field, "year must be between 0001 and 9999")
	}
	return nil
}

// normalize puts t in UTC at TimePrecision.
func normalize(t time.Time) time.Time { return t.UTC().Truncate(TimePrecision) }

// ValidProviderID reports whether id is 1-64 characters of A-Z a-z 0-9 _ -
// (the same rule as the room names of internal/auth).
func ValidProviderID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Validate checks the slot's fields: a valid provider id, start and end set
// and start < end, a known status, a note of at most MaxNoteLen characters.
func (s Slot) Validate() error {
	if !ValidProviderID(s.ProviderID) {
		return apperr.Invalid("providerId", "must be 1-64 characters of A-Z a-z 0-9 _ -")
	}
	if s.Start.IsZero() {
		return apperr.Invalid("start", "is required")
	}
	if s.End.IsZero() {
		return apperr.Invalid("end", "is required")
	}
	if err := checkYear("start", s.Start); err != nil {
		return err
	}
	if err := checkYear("end", s.End); err != nil {
		return err
	}
	if !s.Start.Before(s.End) {
		return apperr.Invalid("end", "must be after start")
	}
	switch s.Status {
	case StatusAvailable, StatusBooked, StatusBlocked:
	default:
		return apperr.Invalid("status", fmt.Sprintf("must be available, booked or blocked, got %q", s.Status))
	}
	if !utf8.ValidString(s.Note) {
		return apperr.Invalid("note", "must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(s.Note); n > MaxNoteLen {
		return apperr.Invalid("note", fmt.Sprintf("must be at most %d characters, got %d", MaxNoteLen, n))
	}
	return nil
}
