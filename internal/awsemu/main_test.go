package awsemu_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every
// Server's Close must stop what it started, with IAM enforced or not.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
