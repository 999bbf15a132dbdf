// Package auth verifies and mints Eventide's JWTs and holds the access
// policy: who may watch (see the slots and changes of) and write (change the
// slots of) which provider, by provider id. Room names are
// internal/realtime's. It is the only package that imports github.com/golang-jwt/jwt/v5,
// so the rest of the code sees only Claims, Verifier and Minter.
//
// Tokens carry sub, role ("provider", "client" or "admin"), provider_id (the
// provider a provider-role token acts for), providers (the providers a client
// may watch; "*" means all), exp (required), iat and nbf.
package auth
