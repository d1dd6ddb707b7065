// Package rotationtest holds the crash and lost-reply harness that the
// database strategies' tests (rotation/postgres, rotation/mysql) drive
// through a small engine interface, so both engines are held to one
// definition of "every step is idempotent and resumable".
//
// It is for tests only: it calls testing.T and runs real rotations
// against internal/awsemu.
package rotationtest
