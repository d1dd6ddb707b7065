// Package mysql opens database/sql connections to MySQL and MariaDB, on
// github.com/go-sql-driver/mysql, with credentials from a
// dbretry.Source, so that a rotation of those credentials fails no query.
//
// It is dbretry's OpenDB for MySQL: each new connection logs in through
// dbretry.Connect, so a refused login re-reads the secret (once for all
// connections refused with the same credentials), uses a new AWSCURRENT
// or, in the window of a single-user rotation between setSecret and
// finishSecret, the AWSPENDING version, and otherwise backs off within
// the Source's retry budget. Existing connections are never touched, and
// only opening a connection is retried, never a statement.
//
// # Using it
//
//	cache, err := secretcache.New(secretsmanager.NewFromConfig(awsCfg))
//	if err != nil { ... }
//	defer cache.Close()
//	src, err := dbretry.NewSource(cache, "prod/orders/mysql")
//	if err != nil { ... }
//	defer src.Close()
//	db := mysql.OpenDB(src, func(c *mysqldriver.Config) { // cannot fail; errors surface at the first connect
//		c.TLSConfig = "true" // RDS: verify the server; or c.TLS = &tls.Config{RootCAs: rdsCAs}
//		c.ParseTime = true
//	})
//	defer db.Close()
//
// Import the driver under another name (mysqldriver above): this package
// is called mysql too.
//
// # What counts as a refused login
//
// The driver's *mysqldriver.MySQLError is matched directly, and only by
// number: 1045 (ER_ACCESS_DENIED_ERROR, wrong password or unknown user, on
// MySQL and MariaDB) and 1698 (MariaDB's ER_ACCESS_DENIED_NO_PASSWORD_ERROR,
// e.g. an account switched to unix_socket). Both are SQLSTATE 28000. Error
// 1044 (ER_DBACCESS_DENIED_ERROR) is not retried: the password was right
// and a new one would not help. This package marks the refusals it
// recognises with dbretry.MarkAuthError, which is how dbretry, which
// imports no MySQL driver, learns of them.
//
// # The secret
//
// The secret is in the RDS format dbretry.ParseCredentials reads: host
// and username are required, port is a number or a numeric string
// (3306 when absent), dbname is optional. A secret whose "engine" is set
// to anything but mysql, mariadb, aurora or aurora-mysql (e.g. a
// PostgreSQL secret given by mistake) fails every connect with an
// *EngineError, before any login is tried.
//
// # MySQL 8 and MariaDB
//
// The tests run against MariaDB 10.11 (internal/mysqltest), with
// mysql_native_password accounts. MySQL 8 refuses a wrong password with
// the same error 1045; its default caching_sha2_password plugin needs TLS
// (or the server's RSA key, mysqldriver.Config.ServerPubKey) for the
// first login of an account after its password changed, which is every
// rotation: use TLS against MySQL 8, as RDS recommends anyway. Error 1698
// is MariaDB's only.
package mysql
