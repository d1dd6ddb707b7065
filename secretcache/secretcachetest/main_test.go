package secretcachetest_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives its tests: every
// Server they start is closed, by NewServer's cleanup or by Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
