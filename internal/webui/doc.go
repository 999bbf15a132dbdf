// Package webui serves the built Angular dashboard (web/, built into
// web/dist/eventide-web/browser) at the root of the HTTP server.
//
// The dashboard is optional: when its directory holds no index.html the
// handler answers with a short page that says how to build it, and the rest
// of the server runs as usual. The check happens on each request, so building
// the dashboard while the server runs needs no restart.
package webui
