package httpapi

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/eventide/realtime/internal/ratelimit"
)

// The REST write limit's defaults: far above what a person editing
// availability does (a bulk edit of a week is tens of writes at once),
// and low enough that one token cannot keep the store's writer busy.
const (
	DefaultWriteRate     = 20  // writes a second, per token subject
	DefaultWriteBurst    = 200 // writes at once, per token subject
	DefaultWriteSubjects = 50_000
)

// LimitWriteRate names the REST write limit in limit reports.
const LimitWriteRate = "http.write_rate"

func (c Config) writeRate() ratelimit.Limit {
	l := c.WriteRate
	switch {
	case l.Rate < 0:
		return ratelimit.Unlimited
	case l.Rate == 0:
		return ratelimit.Limit{Rate: DefaultWriteRate, Burst: DefaultWriteBurst}
	case l.Burst <= 0:
		l.Burst = DefaultWriteBurst
	}
	return l
}

// isWrite reports whether a request changes something.
func isWrite(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// limitWrites refuses a token subject's writes over Config.WriteRate with
// 429 problem+json and Retry-After, before the handler reads the body. It
// runs after requireAuth: the subject is the verified token's. Reads are
// not limited here, nor tokens without a subject.
func limitWrites(cfg Config, d Deps) func(http.Handler) http.Handler {
	l := cfg.writeRate()
	if l.IsUnlimited() {
		return func(next http.Handler) http.Handler { return next }
	}
	n := cfg.WriteSubjects
	if n <= 0 {
		n = DefaultWriteSubjects
	}
	subjects := ratelimit.NewKeyed(l, n)
	now := d.Now
	if now == nil {
		now = time.Now
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sub := claims(r).Subject
			if !isWrite(r.Method) || sub == "" {
				next.ServeHTTP(w, r)
				return
			}
			refused, wait := ratelimit.Take(now(), subjects.Bucket(sub))
			if refused < 0 {
				next.ServeHTTP(w, r)
				return
			}
			d.Limits.Hit(LimitWriteRate, r.RemoteAddr, "sub", sub, "method", r.Method, "path", r.URL.Path)
			secs := retryAfter(wait)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeProblem(w, r, d.Logger, &statusError{http.StatusTooManyRequests, fmt.Sprintf(
				"too many writes: one token subject may make %g writes a second, %d at once; retry after %d s", l.Rate, l.Burst, secs)})
		})
	}
}

// retryAfter is a wait in whole seconds, rounded up: a client that waits
// that long finds a token.
func retryAfter(wait time.Duration) int {
	s := math.Ceil(wait.Seconds())
	return int(min(max(s, 1), math.MaxInt32))
}
