package leakaudit_test

import (
	"testing"

	"github.com/rekeyhq/rekey/internal/mysqltest"
	"github.com/rekeyhq/rekey/internal/pgtest"
	"github.com/rekeyhq/rekey/internal/skipreport"
)

// TestMain prints how many tests were skipped for want of PostgreSQL or MariaDB, where
// a plain go test ./... shows it.
func TestMain(m *testing.M) { skipreport.Main(m, pgtest.Skips, mysqltest.Skips) }
