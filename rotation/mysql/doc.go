// Package mysql provides rotation strategies for MySQL and MariaDB
// credentials stored in the RDS secret format.
//
// A secret value is a JSON object:
//
//	{"engine":"mysql","host":"db.example.com","port":3306,
//	 "username":"app","password":"…","dbname":"app","ssl":true}
//
// host, username and password are required; port (a number or a numeric
// string) defaults to 3306; dbname, when present, is the default database
// of each login but the superuser's (so that login needs a privilege on
// it); engine, when present, must be "mysql", "mariadb", "aurora-mysql" or
// "aurora". Other keys are kept through rotations. A
// malformed value fails the step with an error that names the secret, the
// version and the key, never a value.
//
// SingleUser changes the password of the secret's user (simple, but
// AWSCURRENT stops working between setSecret and finishSecret).
// AlternatingUsers alternates between user and user_clone, with every grant
// of user copied to user_clone, so AWSCURRENT always works. Either is used
// with rotation.New:
//
//	s, err := mysql.AlternatingUsers(superuserSecretARN)
//	if err != nil { ... }
//	r, err := rotation.New(secretsmanager.NewFromConfig(cfg), s)
//	if err != nil { ... }
//	lambda.Start(r.Handle)
//
// The constructors validate their arguments and return an error naming the
// first invalid one (an unknown TLS mode, a non-positive ConnectTimeout, an
// empty superuser secret id), so a misconfigured rotation function fails
// when it starts, before any rotation step. They make no API call and open
// no connection.
//
// # TLS
//
// As in AWS's MySQL rotation functions, the secret's "ssl" key decides:
// true (or "true") requires TLS for every login of the rotation, false (or
// "false") means plaintext, and without the key TLS is tried first and
// plaintext used only when the server does not offer TLS
// (Options.TLS "preferred", the default). The certificate is verified only
// with Options.TLS "true", against the system roots or the RootCAs the
// Options.Config hook puts in the driver's Config.TLS; use that with the
// RDS CA bundle.
//
// # Accounts and quoting
//
// A MySQL account is 'user'@'host'. Both strategies act on exactly the
// account the server matched a login to, read with CURRENT_USER(), so a
// user whose host part is not '%' (say 'app'@'10.0.%') works; the clone
// gets the same host part. Account names are quoted in backticks, where
// only a doubled backtick is special in every sql_mode. Passwords are never
// spliced into SQL: they are statement arguments, and, since ALTER USER
// and CREATE USER take no server-side placeholders (MariaDB 10.11 answers
// PREPARE of ALTER USER ... IDENTIFIED BY ? with a syntax error; MySQL's
// grammar also wants a literal there), the driver interpolates them
// (InterpolateParams), quoting them for the session's sql_mode as the
// server reports it (with NO_BACKSLASH_ESCAPES a backslash is not an escape, and
// the driver doubles quotes instead). A server error that could quote such
// a statement (a syntax error) has its message withheld. The server itself
// receives the password in the statement, as with AWS's functions: MySQL 8
// masks it in its general and slow logs, MariaDB logs the statement as
// sent to the general log when that is on.
//
// # Copying grants
//
// AlternatingUsers creates the clone when it is missing and, every time it
// sets the clone's password, replays each line of SHOW GRANTS FOR the
// original account with the grantee rewritten to the clone: global,
// database, table, column and routine privileges, each WITH GRANT OPTION
// where the original has it, role grants (GRANT role TO …, WITH ADMIN
// OPTION kept) and MariaDB's SET DEFAULT ROLE … FOR. The IDENTIFIED BY
// PASSWORD (or IDENTIFIED VIA) clause MariaDB prints in the USAGE line is
// dropped, so the original's password hash is never copied; REQUIRE and
// resource limits on that line are kept. Afterwards SHOW GRANTS for the
// clone must show every line of the original's, or Apply fails. GRANT only
// adds, so grants the original gained since the last rotation reach the
// clone at the next one; a grant revoked from the original is not revoked
// from the clone.
//
// # MySQL 8 and MariaDB
//
// The tests run against MariaDB 10.11 only. Where MySQL 8 differs, the
// code follows the documented behaviour, untested here:
//
//   - Own password: MySQL documents ALTER USER as open to any account for
//     its own password; MariaDB 10.11 requires CREATE USER even for that
//     (checked). When ALTER USER is refused, SingleUser falls back to SET
//     PASSWORD without FOR, which both let an account run for itself: SET
//     PASSWORD = PASSWORD(…) on MariaDB, SET PASSWORD = … on MySQL 8
//     (which removed PASSWORD()).
//   - Authentication plugins: MariaDB 10.11 defaults to
//     mysql_native_password, MySQL 8 to caching_sha2_password; IDENTIFIED
//     BY keeps whichever plugin the account has, so neither is chosen here.
//     MySQL 8's password_require_current and password history policies
//     can refuse the change; they are not handled.
//   - Roles: MySQL 8 roles are accounts ('role'@'%', printed so in GRANT
//     lines) and default roles live in mysql.default_roles, which SHOW
//     GRANTS does not print, so a clone on MySQL 8 gets the role grants but
//     no default role; MariaDB roles have no host part and SHOW GRANTS
//     prints SET DEFAULT ROLE, which is copied.
//   - SHOW GRANTS output: MariaDB prints the USAGE line with IDENTIFIED BY
//     PASSWORD and the account's REQUIRE and resource limits; MySQL 8
//     prints none of these (they are in SHOW CREATE USER, not copied) and
//     prints dynamic privileges on lines of their own, which are copied.
//     MySQL 5.7 and MariaDB's PROXY lines quote accounts in single quotes,
//     which is recognised for names without quotes or backslashes.
//   - IF EXISTS / IF NOT EXISTS: CREATE USER IF NOT EXISTS exists in both
//     (MySQL 5.7+, MariaDB 10.1+) and is what makes clone creation
//     idempotent.
//   - Name length: MariaDB allows 80 characters in a user name, MySQL 8
//     32; NewPending refuses a clone name over 80, and on MySQL 8 a longer
//     than 32 one fails at setSecret with the server's error.
package mysql
