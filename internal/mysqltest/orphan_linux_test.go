package mysqltest_test

import (
	"path/filepath"
	"testing"

	"github.com/rekeyhq/rekey/internal/mysqltest"
	"github.com/rekeyhq/rekey/internal/testserver"
)

const orphanChildEnv = "MYSQLTEST_ORPHAN_CHILD"

// TestOrphanChild is the body of the process that
// TestKilledTestLeavesNoServer kills.
func TestOrphanChild(t *testing.T) {
	testserver.OrphanChild(t, orphanChildEnv, func() (int, string, string, error) {
		s, err := mysqltest.StartServer()
		if err != nil {
			return 0, "", "", err
		}
		dir := filepath.Dir(s.DataDir())
		return s.Port(), filepath.Join(dir, "mariadbd.pid"), dir, nil
	})
}

func TestKilledTestLeavesNoServer(t *testing.T) {
	t.Parallel()
	requireAvailable(t)
	testserver.KilledTestLeavesNoServer(t, "TestOrphanChild", orphanChildEnv)
}
