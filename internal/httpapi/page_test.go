package httpapi_test

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/httpapi"
)

// createHourly creates n one-hour slots of provider 42, one a day apart
// from 2030-01-01, and returns their ids in list order.
func (e *env) createHourly(n int) []float64 {
	e.t.Helper()
	day := time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)
	ids := make([]float64, n)
	for i := range n {
		s := day.AddDate(0, 0, i)
		ids[i] = e.create(s.Format(time.RFC3339), s.Add(time.Hour).Format(time.RFC3339))["id"].(float64)
	}
	return ids
}

// page is one list response, decoded.
type page struct {
	ids        []float64
	nextCursor string
	hasCursor  bool
}

func (e *env) page(query string) page {
	e.t.Helper()
	r := e.do(req{method: "GET", path: slotsPath + query, token: e.token(client)})
	wantStatus(e.t, r, 200)
	m := r.json(e.t)
	var p page
	for _, s := range m["slots"].([]any) {
		p.ids = append(p.ids, s.(map[string]any)["id"].(float64))
	}
	p.nextCursor, p.hasCursor = m["nextCursor"].(string)
	return p
}

// walk follows nextCursor from the first page of query and returns every
// slot id seen and the size of each page.
func (e *env) walk(query string) (ids []float64, sizes []int) {
	return e.walkFrom(query, "")
}

// walkFrom is walk starting at cursor ("" = the first page).
func (e *env) walkFrom(query, cursor string) (ids []float64, sizes []int) {
	e.t.Helper()
	sep := ""
	if query != "" {
		sep = "&"
	}
	q := "?" + query
	if cursor != "" {
		q += sep + "cursor=" + url.QueryEscape(cursor)
	}
	p := e.page(q)
	for {
		ids = append(ids, p.ids...)
		sizes = append(sizes, len(p.ids))
		if !p.hasCursor {
			return ids, sizes
		}
		if len(sizes) > 100 {
			e.t.Fatal("more than 100 pages")
		}
		p = e.page("?" + query + sep + "cursor=" + url.QueryEscape(p.nextCursor))
	}
}

func TestListIsPaginated(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config, _ *httpapi.Deps) { c.PageSize, c.MaxPageSize = 3, 5 })
	want := e.createHourly(7)

	// No limit: the default page size; the pages together are every slot
	// once, in order.
	ids, sizes := e.walk("")
	if fmt.Sprint(ids) != fmt.Sprint(want) || fmt.Sprint(sizes) != "[3 3 1]" {
		t.Fatalf("pages of %v with ids %v, want [3 3 1] with %v", sizes, ids, want)
	}
	// ?limit=N gives at most N slots a page.
	ids, sizes = e.walk("limit=5")
	if fmt.Sprint(ids) != fmt.Sprint(want) || fmt.Sprint(sizes) != "[5 2]" {
		t.Fatalf("limit=5: pages of %v with ids %v", sizes, ids)
	}
	ids, sizes = e.walk("limit=1")
	if fmt.Sprint(ids) != fmt.Sprint(want) || len(sizes) != 7 {
		t.Fatalf("limit=1: pages of %v with ids %v", sizes, ids)
	}
	// A page that holds everything has no cursor.
	if p := e.page("?limit=5&from=2030-01-05T00:00:00Z"); fmt.Sprint(p.ids) != fmt.Sprint(want[4:]) || p.hasCursor {
		t.Fatalf("last days: %+v", p)
	}
	// The window and the cursor combine: days 2 to 5, two a page.
	ids, sizes = e.walk("from=2030-01-02T00:00:00Z&to=2030-01-06T00:00:00Z&limit=2")
	if fmt.Sprint(ids) != fmt.Sprint(want[1:5]) || fmt.Sprint(sizes) != "[2 2]" {
		t.Fatalf("window: pages of %v with ids %v", sizes, ids)
	}
	// A cursor past the end of a narrower window gives an empty page.
	first := e.page("?limit=5")
	if p := e.page("?to=2030-01-02T00:00:00Z&cursor=" + first.nextCursor); len(p.ids) != 0 || p.hasCursor {
		t.Fatalf("cursor past the window: %+v", p)
	}

	// A slot created while paging, before the cursor, is not seen; one after it is.
	p1 := e.page("?limit=3")
	e.create("2029-12-01T09:00:00Z", "2029-12-01T10:00:00Z")
	late := e.create("2031-01-01T09:00:00Z", "2031-01-01T10:00:00Z")["id"].(float64)
	ids, _ = e.walkFrom("limit=3", p1.nextCursor)
	if fmt.Sprint(ids) != fmt.Sprint(append(append([]float64{}, want[3:]...), late)) {
		t.Fatalf("after the cursor: %v", ids)
	}
}

func TestListPagingParametersAreChecked(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config, _ *httpapi.Deps) { c.PageSize, c.MaxPageSize = 3, 5 })
	e.createHourly(4)
	tok := e.token(client)
	for _, q := range []string{"limit=0", "limit=6", "limit=-1", "limit=01", "limit=%2B2", "limit=two", "limit=2.0", "limit=99999999999999999999"} {
		wantProblem(t, e.do(req{method: "GET", path: slotsPath + "?" + q, token: tok}), 400, "limit")
	}
	good := e.page("?limit=1").nextCursor
	for _, c := range []string{"x", "not-base64!", good + "A", good[:len(good)-2], "Mi4xMDAwLjE", "MS4wMDEuMQ", "MS4xLjA", "MS4xLi0x"} {
		wantProblem(t, e.do(req{method: "GET", path: slotsPath + "?cursor=" + url.QueryEscape(c), token: tok}), 400, "cursor")
	}
	// The default configuration: 100 a page, at most 500.
	d := newEnv(t)
	d.createHourly(2)
	wantStatus(t, d.do(req{method: "GET", path: slotsPath + "?limit=500", token: tok}), 200)
	wantProblem(t, d.do(req{method: "GET", path: slotsPath + "?limit=501", token: tok}), 400, "limit")
}
