package secretcache

// Stats is a snapshot of a Cache's counters since New. Counters are read
// one by one without a global lock, so a snapshot taken during traffic may
// be off by the operations in flight.
type Stats struct {
	// Hits counts reads served from a fresh cached value.
	Hits uint64
	// StaleHits counts reads served from a value past its TTL (within
	// MaxStale), each of which started or joined a background refresh or
	// was served during an error backoff.
	StaleHits uint64
	// Misses counts reads that had to wait for a fetch (nothing cached,
	// or the cached value was past TTL+MaxStale).
	Misses uint64
	// NegativeHits counts reads answered with a cached error during its
	// backoff, without an API call.
	NegativeHits uint64
	// Refreshes counts fetches that completed successfully (first fetches,
	// background and forced refreshes).
	Refreshes uint64
	// Errors counts fetches that failed.
	Errors uint64
	// Evictions counts entries dropped to stay within MaxEntries.
	Evictions uint64
	// Entries is the number of cached entries now.
	Entries int
	// Calls counts the API calls the cache made, per operation, including
	// failed ones (but not the SDK's own retries).
	Calls CallStats
}

// CallStats counts API calls per operation.
type CallStats struct {
	GetSecretValue      uint64
	DescribeSecret      uint64
	BatchGetSecretValue uint64
}

// Total returns the sum of all calls.
func (c CallStats) Total() uint64 {
	return c.GetSecretValue + c.DescribeSecret + c.BatchGetSecretValue
}
