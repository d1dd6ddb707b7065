package main

import (
	"os"
	"testing"

	"github.com/rekeyhq/rekey/internal/pgtest"
)

// TestMain prints how many tests were skipped for want of PostgreSQL, where
// a plain go test ./... shows it.
func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.PrintSkips()
	os.Exit(code)
}
