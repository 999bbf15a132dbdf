package webui

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const indexHTML = `<!doctype html><html><body><app-root></app-root><script src="main-HI3MOU25.js"></script></body></html>`

// writeBuild writes a small stand-in for Angular's output into dir.
func writeBuild(t *testing.T, dir string) {
	t.Helper()
	files := map[string]string{
		"index.html":              indexHTML,
		"main-HI3MOU25.js":        "console.log('app');",
		"styles-ZIWN62UD.css":     "body{}",
		"favicon.ico":             "icon",
		"media/logo-AB12CD34.svg": "<svg/>",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func get(t *testing.T, h http.Handler, method, target string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandlerServesBuild(t *testing.T) {
	dir := t.TempDir()
	writeBuild(t, dir)
	// A secret next to the build directory must stay unreachable.
	if err := os.WriteFile(filepath.Join(filepath.Dir(dir), "secret.txt"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := Handler(dir, slog.New(slog.DiscardHandler))

	tests := []struct {
		name, method, target string
		status               int
		cache, contentType   string
		bodyHas              string
	}{
		{"root is index", "GET", "/", 200, cacheIndex, "text/html", "<app-root>"},
		{"index.html itself, no redirect", "GET", "/index.html", 200, cacheIndex, "text/html", "<app-root>"},
		{"client route falls back to index", "GET", "/providers/42/slots", 200, cacheIndex, "text/html", "<app-root>"},
		{"hashed script is immutable", "GET", "/main-HI3MOU25.js", 200, cacheImmutable, "javascript", "console.log"},
		{"hashed style is immutable", "GET", "/styles-ZIWN62UD.css", 200, cacheImmutable, "text/css", "body{}"},
		{"hashed asset in a folder", "GET", "/media/logo-AB12CD34.svg", 200, cacheImmutable, "image/svg+xml", "<svg/>"},
		{"unhashed file gets a short cache", "GET", "/favicon.ico", 200, cacheOther, "", "icon"},
		{"missing asset is 404, not index", "GET", "/chunk-ZZZZZZZZ.js", 404, "", "", ""},
		{"directory falls back to index", "GET", "/media/", 200, cacheIndex, "text/html", "<app-root>"},
		{"dot-dot cannot escape", "GET", "/../secret.txt", 404, "", "", ""},
		{"encoded dot-dot cannot escape", "GET", "/%2e%2e/secret.txt", 404, "", "", ""},
		{"HEAD works", "HEAD", "/", 200, cacheIndex, "text/html", ""},
		{"POST is refused", "POST", "/", 405, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := get(t, h, tt.method, tt.target)
			b := body(t, res)
			if res.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (body %q)", res.StatusCode, tt.status, b)
			}
			if got := res.Header.Get("Cache-Control"); tt.cache != "" && got != tt.cache {
				t.Errorf("Cache-Control = %q, want %q", got, tt.cache)
			}
			if got := res.Header.Get("Content-Type"); !strings.Contains(got, tt.contentType) {
				t.Errorf("Content-Type = %q, want it to contain %q", got, tt.contentType)
			}
			if !strings.Contains(b, tt.bodyHas) {
				t.Errorf("body = %q, want it to contain %q", b, tt.bodyHas)
			}
			if strings.Contains(b, "secret") {
				t.Errorf("body leaks a file outside the build directory: %q", b)
			}
			if tt.method == "HEAD" && b != "" {
				t.Errorf("HEAD body = %q, want empty", b)
			}
		})
	}
}

func TestHandlerNotBuilt(t *testing.T) {
	for _, dir := range []string{t.TempDir(), filepath.Join(t.TempDir(), "does-not-exist"), ""} {
		t.Run("dir="+dir, func(t *testing.T) {
			h := Handler(dir, nil)

			res := get(t, h, "GET", "/")
			b := body(t, res)
			if res.StatusCode != 200 {
				t.Fatalf("status = %d, want 200", res.StatusCode)
			}
			if !strings.Contains(res.Header.Get("Content-Type"), "text/html") {
				t.Errorf("Content-Type = %q", res.Header.Get("Content-Type"))
			}
			if res.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store so the build shows up once made", res.Header.Get("Cache-Control"))
			}
			for _, want := range []string{"not built", "make web", "npm ci", "ng build"} {
				if !strings.Contains(b, want) {
					t.Errorf("page lacks %q:\n%s", want, b)
				}
			}

			if res := get(t, h, "GET", "/main-HI3MOU25.js"); res.StatusCode != 404 {
				t.Errorf("asset while not built: status = %d, want 404", res.StatusCode)
			}
		})
	}
}

func TestHandlerPicksUpBuildWithoutRestart(t *testing.T) {
	dir := t.TempDir()
	h := Handler(dir, nil)
	if b := body(t, get(t, h, "GET", "/")); !strings.Contains(b, "not built") {
		t.Fatalf("before the build: %q", b)
	}
	writeBuild(t, dir)
	res := get(t, h, "GET", "/")
	if b := body(t, res); !strings.Contains(b, "<app-root>") {
		t.Fatalf("after the build: %q", b)
	}
	if res.Header.Get("Cache-Control") != cacheIndex {
		t.Errorf("Cache-Control = %q", res.Header.Get("Cache-Control"))
	}
}
