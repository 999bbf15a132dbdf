package httpapi

import (
	"fmt"
	"strconv"
	"time"

	"github.com/eventide/realtime/internal/apperr"
	"github.com/eventide/realtime/internal/availability"
)

// The small input rules of the REST API (issue 9, row 10). Each one closes
// a way for two different inputs to mean the same thing, or for text that
// displays differently from what it is to be stored.

// parseCanonicalInt parses a decimal integer written the one canonical way:
// digits only, no leading zeros, no sign — so "00055" and "+55" do not
// alias 55. signed also allows a leading '-' (but not "-0"); otherwise the
// value must be positive.
func parseCanonicalInt(s string, signed bool) (int64, bool) {
	digits := s
	if signed && len(digits) > 1 && digits[0] == '-' {
		digits = digits[1:]
	}
	if digits == "" || len(digits) > 19 {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	if digits[0] == '0' && (len(digits) > 1 || len(s) != len(digits) || !signed) {
		return 0, false // a leading zero, "-0", or 0 where only positive ids exist
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// parseTime parses an RFC 3339 time strictly: besides what
// availability.ParseTime checks, the UTC offset must be Z or ±hh:mm with
// hh at most 23 and mm at most 59 (Go also reads +24:00 and +00:60), and
// the fraction of a second is introduced by '.' (Go also reads ',').
func parseTime(field, v string) (time.Time, error) {
	if err := checkRFC3339(v); err != nil {
		return time.Time{}, apperr.Invalid(field, fmt.Sprintf("must be an RFC 3339 time such as 2026-01-02T15:04:05Z: %s", err))
	}
	return availability.ParseTime(field, v)
}

// checkRFC3339 checks the parts of RFC 3339 that time.Parse is lenient
// about: the offset's range and the fraction separator. The rest of the
// syntax is left to time.Parse.
func checkRFC3339(v string) error {
	const dateTime = len("2006-01-02T15:04:05")
	if len(v) < dateTime+1 {
		return nil // too short to be a time; time.Parse says why
	}
	rest := v[dateTime:]
	if rest[0] == ',' {
		return fmt.Errorf("the fraction of a second starts with '.'")
	}
	if rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		rest = rest[i:]
	}
	if rest == "Z" || len(rest) != len("+07:00") || rest[0] != '+' && rest[0] != '-' {
		return nil
	}
	hh, errH := strconv.Atoi(rest[1:3])
	mm, errM := strconv.Atoi(rest[4:6])
	if errH != nil || errM != nil || rest[3] != ':' || hh > 23 || mm > 59 {
		return fmt.Errorf("the offset %q is not between -23:59 and +23:59", rest)
	}
	return nil
}

// checkNote refuses text that displays differently from what it stores:
// control characters other than TAB and LF (NUL, CR, ESC, DEL, C1), and
// the bidirectional embedding, override and isolate controls (U+202A to
// U+202E, U+2066 to U+2069) that reorder how the surrounding text is shown
// ("Trojan Source", CVE-2021-42574). Invalid UTF-8 never reaches here:
// decode refuses it.
func checkNote(note string) error {
	for i, r := range note {
		switch {
		case r == '\t' || r == '\n':
		case r < 0x20 || r >= 0x7f && r <= 0x9f:
			return apperr.Invalid("note", fmt.Sprintf("must not contain the control character U+%04X (at byte %d)", r, i))
		case r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069:
			return apperr.Invalid("note", fmt.Sprintf("must not contain the bidirectional control U+%04X (at byte %d)", r, i))
		}
	}
	return nil
}
