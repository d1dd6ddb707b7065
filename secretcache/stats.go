package secretcache

// Stats is a snapshot of a Cache's counters since New. Counters are read
// one by one without a global lock, so a snapshot taken during traffic may
// be off by the operations in flight.
type Stats struct {
	// Hits counts reads served from a fresh cached value.
	Hits uint64
	// StaleHits counts reads served from a value past its freshness
	// deadline and within MaxStale: past TTL, or past RotationPollInterval
	// while a rotation is in progress, or past a NextRotationDate. Each
	// started a background refresh, found one running, or was served
	// during an error backoff.
	StaleHits uint64
	// Misses counts reads that had to wait for a fetch (nothing cached,
	// or the cached value was past TTL+MaxStale).
	Misses uint64
	// NegativeHits counts reads answered with a cached error during its
	// backoff, without an API call.
	NegativeHits uint64
	// Refreshes counts successful fetches that published a value: first
	// fetches (WithVersionID ones included), background and forced
	// refreshes, stage entries repointed to a cached version by a
	// DescribeSecret answer fetched for another stage of their secret,
	// and each secret Prefetch stored.
	Refreshes uint64
	// Errors counts fetches that failed, and each secret Prefetch could
	// not load. A DescribeSecret that is denied (the cache falls back to
	// GetSecretValue) or that fails beside a successful first
	// GetSecretValue is not counted, nor is a DescribeSecret answer that a
	// cached stage no longer exists (AWSPENDING after a rotation): that
	// drops the entry's value as an answer, not a failure.
	Errors uint64
	// Evictions counts entries dropped to stay within MaxEntries.
	Evictions uint64
	// Entries is the number of cached entries now.
	Entries int
	// Failovers counts API calls answered by a replica Region
	// (Options.Replicas) because the primary failed with an outage error
	// or was in its outage backoff.
	Failovers uint64
	// Calls counts the API calls the cache made, per operation, including
	// failed ones and those sent to replica Regions (but not the SDK's own
	// retries).
	Calls CallStats
}

// CallStats counts the API calls a Cache made, per operation.
type CallStats struct {
	// GetSecretValue counts GetSecretValue calls.
	GetSecretValue uint64
	// DescribeSecret counts DescribeSecret calls.
	DescribeSecret uint64
	// BatchGetSecretValue counts BatchGetSecretValue calls (Prefetch).
	BatchGetSecretValue uint64
}

// Total returns the sum of all calls.
func (c CallStats) Total() uint64 {
	return c.GetSecretValue + c.DescribeSecret + c.BatchGetSecretValue
}
