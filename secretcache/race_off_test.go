//go:build !race

package secretcache_test

// raceEnabled reports whether the race detector is on; tests that make
// thousands of HTTP calls scale down under its 5-10× slowdown.
const raceEnabled = false
