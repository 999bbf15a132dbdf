package httpapi

import (
	"strconv"
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
