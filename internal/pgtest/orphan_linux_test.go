package pgtest_test

import (
	"path/filepath"
	"testing"

	"github.com/rekeyhq/rekey/internal/pgtest"
	"github.com/rekeyhq/rekey/internal/testserver"
)

const orphanChildEnv = "PGTEST_ORPHAN_CHILD"

// TestOrphanChild is the body of the process that
// TestKilledTestLeavesNoServer kills.
func TestOrphanChild(t *testing.T) {
	testserver.OrphanChild(t, orphanChildEnv, func() (int, string, string, error) {
		s, err := pgtest.StartServer()
		if err != nil {
			return 0, "", "", err
		}
		return s.Port, filepath.Join(s.DataDir, "postmaster.pid"), filepath.Dir(s.DataDir), nil
	})
}

func TestKilledTestLeavesNoServer(t *testing.T) {
	t.Parallel()
	requireAvailable(t)
	testserver.KilledTestLeavesNoServer(t, "TestOrphanChild", orphanChildEnv)
}
