// Package api embeds the REST contract so the server can serve it at
// GET /api/openapi.yaml and tests can check real traffic against it.
package api

import _ "embed"

// OpenAPI is api/openapi.yaml, the OpenAPI 3.1 description of the REST API.
//
//go:embed openapi.yaml
var OpenAPI []byte
