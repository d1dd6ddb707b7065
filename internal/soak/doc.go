// Package soak holds rekey's chaos soak test; it has no code of its own.
//
// TestChaosSoak runs a secretcache.Cache, rotations and dbretry pools for a
// bounded time against internal/awsemu injecting, at random with a fixed
// seed, throttling, 500s, 2 s delays, hung requests and connection resets,
// and against a real PostgreSQL (internal/pgtest) whose secret rotates. It
// asserts that callers see no error while a good value is within MaxStale,
// that every caller sees a rotation's new AWSCURRENT within
// RotationPollInterval plus one TTL, that API calls stay within a budget
// computed from TTL, polls, rotations and failures (no storm after a burst
// of errors), and that nothing leaks after Close.
//
// It runs in the default `go test ./...` for REKEY_SOAK_DURATION (a Go
// duration, default 30s) and is skipped with -short:
//
//	go test -race -count=1 -v -run TestChaosSoak ./internal/soak
//	REKEY_SOAK_DURATION=60s go test -race -count=1 -v -run TestChaosSoak ./internal/soak
package soak
