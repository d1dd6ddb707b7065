// Package leakaudit holds rekey's secret-leak audit test; it has no code of
// its own.
//
// TestLeakAudit stores secrets holding a unique marker, drives every public
// path of secretcache, dbretry, dbretry/mysql, rotation, rotation/postgres,
// rotation/mysql and policy
// through the real SDK against internal/awsemu (and a real PostgreSQL and
// MariaDB when available) — errors of each failure kind, debug logs through
// slog's JSON and text handlers, every fmt verb of every exported type that
// holds a value, recovered panics — and asserts that the marker, in plain,
// hex or base64 form, appears in none of it. It also asserts that each bad
// input (malformed JSON, a 65,537-byte value, an empty id, an unknown
// stage, binary where text is expected) gets a typed error:
//
//	go test -race -count=1 -v ./internal/leakaudit
package leakaudit
