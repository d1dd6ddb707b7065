// Package secretcache provides an in-memory, rotation-aware cache of AWS
// Secrets Manager secrets.
//
// # Model
//
// A secret is a set of versions. A version, named by its VersionId, is
// immutable: the same id always carries the same value. Staging labels
// (AWSCURRENT, AWSPENDING, AWSPREVIOUS, or your own) are pointers that move
// between versions; rotation is nothing but moving AWSCURRENT to a new
// version. So the cache keeps values by version and spends API calls only
// on learning where a label points:
//
//   - A first read of a (secret, stage) costs one GetSecretValue. With
//     Options.DescribeOnFirstFetch it also costs, concurrently, one
//     DescribeSecret, so that a secret first read during a rotation is
//     polled from that read on rather than from its first refresh (see
//     Freshness). Within MinRefreshInterval of a DescribeSecret of the same
//     secret (say, just after Refresh) a first read of a stage uses that
//     answer instead: no call if the version is cached, else one
//     GetSecretValue by VersionId.
//   - A refresh costs one DescribeSecret, which returns every version's
//     labels, the rotation state and NextRotationDate, plus one
//     GetSecretValue only if the label moved to a version not cached (a
//     finished rotation whose AWSPENDING value was read, or a rollback to
//     the previous version, needs none). So N secrets read steadily cost
//     about N calls per TTL: N GetSecretValue for the first reads, then
//     DescribeSecret only while no version changes.
//   - That answer repoints every cached stage of the secret, not only the
//     one refreshed: after Refresh(id), or the refresh of any stage, each
//     WithStage read of that secret returns the version the answer shows
//     (no call if cached, else one GetSecretValue by VersionId at its next
//     read; should that call fail, the old value is served as after any
//     failed refresh), or *types.ResourceNotFoundException if its label is
//     gone, never the old value.
//   - A version read with WithVersionID is fetched once and never refreshed.
//   - Without the secretsmanager:DescribeSecret permission a refresh costs
//     one GetSecretValue instead (the cache falls back by itself and logs
//     it once), and rotation awareness is lost.
//   - Prefetch loads up to 20 secrets per BatchGetSecretValue call; that
//     call says nothing about rotations, so a secret it loads during one
//     is seen to change at its first refresh.
//
// # Freshness
//
// A value is served without any API call for TTL (default 5 minutes,
// spread by ±10 % jitter). After TTL a read still returns it at once and
// starts one background refresh (stale-while-revalidate); after
// TTL+MaxStale (default 1 hour) a read waits for the refresh. If a refresh
// fails, the last good value keeps being served until TTL+MaxStale and the
// failure is retried only after an exponential backoff (1s doubling to
// 5m), however many reads arrive. A first fetch that fails returns its
// error, which is cached for the backoff too. A not-found answer
// (*types.ResourceNotFoundException: the secret or the stage no longer
// exists) is authoritative: the cached value is dropped and reads return
// that error.
//
// When DescribeSecret (at a refresh, or at a first read with
// DescribeOnFirstFetch) shows AWSPENDING on a version other than
// AWSCURRENT, a rotation is in progress and the secret is re-checked every
// RotationPollInterval (default 5s) instead of every TTL, so the new
// AWSCURRENT is seen within seconds of the rotation finishing. A
// NextRotationDate sooner than the next refresh moves the refresh to it.
// OnChange reports each move of AWSCURRENT the cache observes, on a
// goroutine of its own, in order.
//
// # Replica Regions
//
// Options.Replicas names, in order of preference, clients for Regions the
// secrets are replicated to. A fetch (first read, TTL or rotation-poll
// refresh, Refresh) calls the primary Client, each call bounded by
// Options.PrimaryTimeout (default 800ms), and on an outage error
// (IsOutage: a timeout, a connection refused or reset, an HTTP 5xx,
// throttling after the SDK's retries) makes the same call to each replica
// until one answers. An answer about the secret (AccessDeniedException,
// ResourceNotFoundException, DecryptionFailure, a validation error) is
// never failed over. A secret id that is a name is sent to the replica as
// is; an ARN is sent with its Region translated to the replica's
// (replicas keep the name and suffix). The answer is cached like the
// primary's, DescribeSecret on the replica carries the replicated stages
// (so rotation awareness goes on), Secret.Region says which Region
// answered and Stats.Failovers counts it. So a cold read during a primary
// outage costs PrimaryTimeout plus one replica round trip, under 1s with
// the defaults.
//
// After an outage error the primary is skipped for that secret for a
// backoff (ErrorBackoff doubling to MaxErrorBackoff, never more than the
// shortest jittered TTL), then tried by one fetch per backoff period: no
// storm against a dead Region. As soon as it answers it is preferred
// again, so the first TTL refresh after it recovers goes to it. Prefetch
// reads the primary only; a secret it could not load is read by Get with
// failover. Hits never call anyone, and no value is ever served beyond
// TTL+MaxStale because a Region is down: if every Region fails, reads
// behave as after any failed refresh.
//
// # Concurrency and lifetime
//
// A hit is a lock-free lookup and an atomic load; it allocates nothing.
// All misses and refreshes of one (secret, stage) entry share one fetch
// (singleflight); a waiter whose context ends returns at once while the
// fetch goes on, detached, for the others, bounded by FetchTimeout.
// Expiry is checked against the clock on every read, never by a timer, so
// the cache is correct in environments that freeze between requests, such
// as AWS Lambda. Background refreshes, and the goroutine calling
// OnChange, belong to the Cache: Close cancels and waits for them.
//
// Memory: an entry holds its current value and, after a change, the value
// it replaced (so that a rollback costs no API call), besides a few
// hundred bytes of metadata.
//
// Secret values never appear in log lines, errors or fmt output of a
// Secret.
//
// # Observability
//
// Stats is a snapshot of the counters. Options.OnEvent receives an Event
// per API call, refresh, stale read, failure and failover, synchronously
// and without allocating on the read path; package otelcache turns both
// into OpenTelemetry metrics. Every API call's User-Agent carries
// "rekey/<version>", so CloudTrail shows which calls came from rekey.
package secretcache
