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
//   - A first read of a (secret, stage) costs one GetSecretValue.
//   - A refresh costs one DescribeSecret, which returns every version's
//     labels, the rotation state and NextRotationDate, plus one
//     GetSecretValue only if the label moved to a version not cached (a
//     finished rotation whose AWSPENDING value was read, or a rollback to
//     the previous version, needs none).
//   - A version read with WithVersionID is fetched once and never refreshed.
//   - Without the secretsmanager:DescribeSecret permission a refresh costs
//     one GetSecretValue instead (the cache falls back by itself and logs
//     it once), and rotation awareness is lost.
//   - Prefetch loads up to 20 secrets per BatchGetSecretValue call.
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
// error, which is cached for the backoff too. A not-found answer (the
// secret or the stage no longer exists) is authoritative and replaces the
// cached value.
//
// When DescribeSecret shows AWSPENDING on a version other than AWSCURRENT,
// a rotation is in progress and the secret is re-checked every
// RotationPollInterval (default 5s) instead of every TTL, so the new
// AWSCURRENT is seen within seconds of the rotation finishing. A
// NextRotationDate sooner than the next refresh moves the refresh to it.
// OnChange reports each move of AWSCURRENT the cache observes.
//
// # Concurrency and lifetime
//
// A hit is a lock-free lookup and an atomic load; it allocates nothing.
// All misses and refreshes of one (secret, stage) share one fetch
// (singleflight); a waiter whose context ends returns at once while the
// fetch goes on, detached, for the others, bounded by FetchTimeout.
// Expiry is checked against the clock on every read, never by a timer, so
// the cache is correct in environments that freeze between requests, such
// as AWS Lambda. Background refreshes belong to the Cache: Close cancels
// and waits for them.
//
// Secret values never appear in log lines, errors or fmt output of a
// Secret.
package secretcache
