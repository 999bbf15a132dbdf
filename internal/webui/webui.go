package webui

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Cache policies. Angular's production build puts a content hash in every
// asset's name (main-HI3MOU25.js), so a name never changes meaning and the
// browser may keep it for a year. index.html names those assets, so it must
// be revalidated on every load or a deploy would not reach the browser.
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cacheIndex     = "no-cache"
	cacheOther     = "public, max-age=3600"
)

// hashedName matches the names Angular's outputHashing gives: a dash, eight
// upper-case letters or digits, then the extension.
var hashedName = regexp.MustCompile(`-[A-Z0-9]{8}\.[a-z0-9]+$`)

// Handler serves the built dashboard from dir. Paths naming a file serve it;
// other paths without a file extension get index.html so that client-side
// routes survive a reload; missing assets get 404. Without index.html in dir
// it serves a page explaining how to build the dashboard.
func Handler(dir string, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{dir: dir, logger: logger}
	if dir != "" {
		h.fsys = os.DirFS(dir)
	}
	if h.built() {
		logger.Info("serving the dashboard", "dir", dir)
	} else {
		logger.Warn("the dashboard is not built; / explains how to build it", "dir", dir)
	}
	return h
}

type handler struct {
	dir         string
	fsys        fs.FS
	logger      *slog.Logger
	warnMissing sync.Once
}

func (h *handler) built() bool {
	if h.fsys == nil {
		return false
	}
	info, err := fs.Stat(h.fsys, "index.html")
	return err == nil && info.Mode().IsRegular()
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")

	// path.Clean on a rooted path removes every "..", and fs.FS refuses
	// names that are not fs.ValidPath, so nothing outside dir is reachable.
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")

	if !h.built() {
		if looksLikeAsset(name) {
			http.NotFound(w, r)
			return
		}
		h.warnMissing.Do(func() {
			h.logger.Warn("dashboard requested but not built", "dir", h.dir)
		})
		serveNotBuilt(w, r)
		return
	}

	if name != "" && name != "index.html" {
		info, err := fs.Stat(h.fsys, name)
		switch {
		case err == nil && info.Mode().IsRegular():
			if hashedName.MatchString(name) {
				w.Header().Set("Cache-Control", cacheImmutable)
			} else {
				w.Header().Set("Cache-Control", cacheOther)
			}
			http.ServeFileFS(w, r, h.fsys, name)
			return
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			h.logger.Error("dashboard file", "path", name, "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		case looksLikeAsset(name):
			http.NotFound(w, r)
			return
		}
		// A directory or a client route: fall through to index.html.
	}
	h.serveIndex(w, r)
}

// serveIndex serves index.html directly rather than through ServeFileFS,
// which would redirect "/index.html" to "/".
func (h *handler) serveIndex(w http.ResponseWriter, r *http.Request) {
	b, err := fs.ReadFile(h.fsys, "index.html")
	if err != nil {
		h.logger.Error("dashboard index.html", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var mod time.Time
	if info, err := fs.Stat(h.fsys, "index.html"); err == nil {
		mod = info.ModTime()
	}
	w.Header().Set("Cache-Control", cacheIndex)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	http.ServeContent(w, r, "index.html", mod, bytes.NewReader(b))
}

// looksLikeAsset reports whether the last path segment has an extension:
// such a request wants a file, and index.html in its place would only
// confuse the browser (HTML parsed as a script).
func looksLikeAsset(name string) bool {
	if name == "" {
		return false
	}
	return path.Ext(path.Base(name)) != ""
}

const notBuiltPage = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Eventide: dashboard not built</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1d2330;line-height:1.5}
code,pre{background:#eef0f5;border-radius:4px;padding:.1em .35em}pre{padding:.7rem 1rem}</style></head>
<body>
<h1>Eventide is running</h1>
<p>The dashboard is not built, so there is nothing to show here. The REST API
(<a href="/api/openapi.yaml">/api/openapi.yaml</a>) and Socket.IO at <code>/socket.io/</code> work as usual.</p>
<p>To build the dashboard (Node.js 20 and npm needed), from the repository root:</p>
<pre>make web</pre>
<p>or by hand:</p>
<pre>cd web &amp;&amp; npm ci &amp;&amp; npx ng build</pre>
<p>Then reload this page; the server picks the build up without a restart.
A build elsewhere can be pointed to with <code>--web-dir</code> (<code>EVENTIDE_WEB_DIR</code>).</p>
</body>
</html>
`

func serveNotBuilt(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(notBuiltPage))
	}
}
