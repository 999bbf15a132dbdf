package realtime

import (
	"fmt"
	"strings"
	"time"

	"github.com/eventide/realtime/internal/ratelimit"
	"github.com/eventide/realtime/internal/socketio"
)

// The event rate limits' defaults. No honest client comes near them: a
// dashboard sends a joinRoom per provider it watches (at most MaxRooms,
// all at once after a reconnect) and a few more a minute; a user may have
// a few tabs open, all reconnecting at once after a restart.
const (
	DefaultSocketEventRate   = 10   // events a second, per socket
	DefaultSocketEventBurst  = 200  // events at once, per socket: all of MaxRooms, twice
	DefaultSubjectEventRate  = 50   // events a second, per token subject
	DefaultSubjectEventBurst = 1000 // events at once, per token subject
	// More than DefaultAbuseRefusals events refused within
	// DefaultAbuseWindow end the socket: a client that goes on sending
	// after being told to slow down. Refused at 10 a second (twice the
	// socket rate), it is gone within about 12 s.
	DefaultAbuseRefusals = 100
	DefaultAbuseWindow   = time.Minute
	// DefaultSubjects bounds the token subjects whose buckets are kept
	// (about 200 bytes each: 10 MB).
	DefaultSubjects = 50_000
)

// Names of the event rate limits in limit reports.
const (
	LimitSocketEvents  = "realtime.socket_events"  // a socket over its rate: the event is refused
	LimitSubjectEvents = "realtime.subject_events" // a subject's sockets over theirs: the event is refused
	LimitEventAbuse    = "realtime.event_abuse"    // a socket refused too often: it is disconnected
)

// admission is the gateway's event rate limiting: every event of a socket
// takes a token from the socket's bucket and one from its token subject's,
// before any handler runs (socketio.Namespace.AdmitEvents).
type admission struct {
	socket, subject ratelimit.Limit
	subjects        *ratelimit.Keyed // nil: no per-subject limit
	// A socket with more than abuseRefusals events refused within
	// abuseWindow is disconnected; 0 refusals: never.
	abuseRefusals int
	abuseWindow   time.Duration
}

func newAdmission(cfg Config) admission {
	a := admission{
		socket:        orDefault(cfg.SocketEvents, DefaultSocketEventRate, DefaultSocketEventBurst),
		subject:       orDefault(cfg.SubjectEvents, DefaultSubjectEventRate, DefaultSubjectEventBurst),
		abuseRefusals: cfg.AbuseRefusals,
		abuseWindow:   cfg.AbuseWindow,
	}
	if !a.subject.IsUnlimited() {
		n := cfg.Subjects
		if n <= 0 {
			n = DefaultSubjects
		}
		a.subjects = ratelimit.NewKeyed(a.subject, n)
	}
	switch {
	case a.abuseRefusals == 0:
		a.abuseRefusals = DefaultAbuseRefusals
	case a.abuseRefusals < 0:
		a.abuseRefusals = 0
	}
	if a.abuseWindow <= 0 {
		a.abuseWindow = DefaultAbuseWindow
	}
	return a
}

// orDefault reads a configured limit: zero is the default, a negative
// rate no limit, a rate without a burst the default burst.
func orDefault(l ratelimit.Limit, rate float64, burst int) ratelimit.Limit {
	switch {
	case l.Rate < 0:
		return ratelimit.Unlimited
	case l.Rate == 0:
		return ratelimit.Limit{Rate: rate, Burst: burst}
	case l.Burst <= 0:
		l.Burst = burst
	}
	return l
}

// admit is the gateway's AdmitEvents check on the "/" namespace.
func (g *Gateway) admit(e *socketio.Event) bool {
	st := sessionOf(e.Socket)
	if st == nil {
		return true // never authenticated: cannot be (the middleware refuses it)
	}
	now := g.now()
	var subject *ratelimit.Bucket
	if st.claims.Subject != "" { // a token without sub is limited per socket only
		subject = g.admission.subjects.Bucket(st.claims.Subject)
	}
	refused, wait := ratelimit.Take(now, &st.events, subject)
	if refused < 0 {
		return true
	}
	st.refuse(e, refused == 1, wait, now)
	return false
}

// refuse answers an event over a rate limit with an exception and the ack
// saying so; a socket refused too often gets a last one and is
// disconnected.
func (st *session) refuse(e *socketio.Event, bySubject bool, wait time.Duration, now time.Time) {
	g, s, a := st.g, st.s, &st.g.admission
	name, limit, who := LimitSocketEvents, a.socket, "a connection"
	if bySubject {
		name, limit, who = LimitSubjectEvents, a.subject, "the connections of one token subject together"
	}
	addr := s.Handshake().Address
	event := e.Name
	if len(event) > 64 { // the client chose it: the log line stays short
		event = event[:64]
	}
	g.limits.Hit(name, addr, "sid", s.ID(), "sub", st.claims.Subject, "event", event)
	msg := fmt.Sprintf("rate limited: %s may send %g events a second, %d at once; retry in %s",
		who, limit.Rate, limit.Burst, roundUp(wait))
	abusive := st.abusive(now)
	if abusive {
		g.limits.Hit(LimitEventAbuse, addr, "sid", s.ID(), "sub", st.claims.Subject,
			"refusals", a.abuseRefusals, "window", short(a.abuseWindow))
		g.log.Info("too many events refused; disconnecting", "sid", s.ID(), "sub", st.claims.Subject)
		msg = fmt.Sprintf("too many events: more than %d refused within %s; disconnecting", a.abuseRefusals, short(a.abuseWindow))
	}
	_ = s.Emit(EventException, exception(msg, e.Name, roomOf(e)))
	if e.Ack != nil {
		_ = e.Ack(map[string]any{"status": "error", "message": msg})
	}
	if abusive {
		s.Disconnect(true)
	}
}

// abusive counts a refusal of st's events and reports whether there have
// been more than the gateway allows within its window. Refusals are a
// bucket too (abuseRefusals at once, refilled over the window), made on
// the first refusal: an honest socket never pays for it. Events of one
// socket are admitted one at a time, so st.refusals needs no lock.
func (st *session) abusive(now time.Time) bool {
	a := &st.g.admission
	if a.abuseRefusals == 0 {
		return false
	}
	if st.refusals == nil {
		st.refusals = ratelimit.NewBucket(ratelimit.Limit{
			Rate:  float64(a.abuseRefusals) / a.abuseWindow.Seconds(),
			Burst: a.abuseRefusals,
		})
	}
	return !st.refusals.Allow(now)
}

// roomOf returns the room a refused room request was for, for the
// exception's cause; "" for other events.
func roomOf(e *socketio.Event) string {
	if e.Name != EventJoinRoom && e.Name != EventLeaveRoom {
		return ""
	}
	room, _, _ := roomFromArgs(e.Args)
	return room
}

// short writes d without zero units at its end: 1m, not 1m0s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// roundUp rounds a wait up to the millisecond: "retry in 0s" would be
// wrong.
func roundUp(d time.Duration) time.Duration {
	if r := d % time.Millisecond; r != 0 {
		d += time.Millisecond - r
	}
	return d
}
