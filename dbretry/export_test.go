package dbretry

import "time"

// SetClock makes now the clock of a Source built from o: the source of
// the current time for the retry budget and RereadInterval. It must be
// safe for concurrent use. Users cannot set it: a Source runs on
// time.Now.
func SetClock(o *Options, now func() time.Time) { o.clock = now }

// SetRand makes r the source of the backoff's spread for a Source built
// from o: a uniform float64 in [0,1). It must be safe for concurrent use.
func SetRand(o *Options, r func() float64) { o.rand = r }
