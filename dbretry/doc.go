// Package dbretry opens database connections with credentials from a
// cached Secrets Manager secret so that a rotation of those credentials
// fails no query.
//
// # The problem
//
// A single-user rotation changes the password in the database at setSecret
// and moves AWSCURRENT to it at finishSecret. In between, and until a
// client's cache notices finishSecret, AWSCURRENT no longer logs in. A
// pool that reads the cached AWSCURRENT for each new connection fails
// every new login of that time; existing connections are unaffected.
//
// # What dbretry does
//
// A Source reads the secret through a secretcache.Cache. New connections
// take its Credentials; existing connections are never touched. When a
// login is refused (IsAuthError: PostgreSQL SQLSTATE 28P01 or 28000, MySQL
// error 1045 or SQLSTATE 28000), the connect:
//
//  1. re-reads the secret with Cache.Refresh, once for all connections
//     refused with the same credentials and at most once per
//     Options.RereadInterval (1s) for them: a thousand refusals at once
//     cost one DescribeSecret, plus one GetSecretValue for a new
//     AWSCURRENT or, when AWSCURRENT has not changed, for AWSPENDING
//     (none if the cache holds that version). The re-read updates the
//     cache's own entries and never invalidates any;
//  2. uses a new AWSCURRENT if there is one, otherwise the AWSPENDING
//     version if the secret has one on another version
//     (Options.TryPending), and keeps handing it out, without further
//     API calls, until the cache's AWSCURRENT moves or AWSPENDING is
//     refused too, in which case it goes back to AWSCURRENT;
//  3. retries the connect at once with new credentials, or after a
//     backoff when there are none, within Options.RetryBudget (30s) and
//     the caller's context, then fails with a *RetryError.
//
// A connect function for a driver whose refusals IsAuthError does not
// recognise marks them with MarkAuthError; dbretry/mysql does so for
// go-sql-driver/mysql, so that this package needs no MySQL driver.
//
// Only opening a connection is retried, never a statement, so nothing
// runs twice. Every other error is returned unchanged and at once. No
// error message, log record or fmt output contains a password.
//
// # Using it
//
//	cache, err := secretcache.New(secretsmanager.NewFromConfig(awsCfg))
//	if err != nil { ... }
//	defer cache.Close()
//	src, err := dbretry.NewSource(cache, "prod/orders/db") // nil cache, empty id, bad options: error
//	if err != nil { ... }
//	defer src.Close()                                 // waits for a re-read in flight
//	pool, err := dbretry.NewPool(ctx, src, nil)       // pgx
//	db := dbretry.OpenDB(src)                         // database/sql on pgx; cannot fail, errors surface at the first connect
//	db := mysql.OpenDB(src)                           // database/sql on go-sql-driver/mysql (dbretry/mysql)
//	conn, err := dbretry.Connect(ctx, src, dial)      // any other driver
//
// A re-read runs on a goroutine of the Source, so that a connect whose
// context ends does not cancel it for the others refused with it; Close
// the Source after the pools and before the cache.
//
// The secret is in the RDS format (see ParseCredentials); host, port,
// database, user and password come from it, the rest of the connection
// settings from the config passed in. The cache's TTL does not need to be
// short: a refused login is what makes dbretry look for new credentials.
//
// # pgxpool
//
// pgxpool opens connections inside Acquire, through BeforeConnect (where
// Pool sets the credentials) and pgx.ConnectConfig, and has no hook
// between a refused login and the caller. So Pool wraps each operation
// that acquires a connection and retries it only when it failed with an
// authentication error inside a *pgconn.ConnectError: an error pgx
// returns only from opening a connection, before the operation's
// statement was sent. Statement errors, even with an authentication
// SQLSTATE, are returned as they are. Operations on Pool.Raw get new
// credentials but no retry.
package dbretry
