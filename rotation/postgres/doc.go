// Package postgres provides rotation strategies for PostgreSQL credentials
// stored in the RDS secret format.
//
// A secret value is a JSON object:
//
//	{"engine":"postgres","host":"db.example.com","port":5432,
//	 "username":"app","password":"…","dbname":"app"}
//
// host, username and password are required; port (a number or a numeric
// string) defaults to 5432 and dbname to "postgres"; engine, when present,
// must be "postgres" or "aurora-postgresql". Other keys are kept through
// rotations. A malformed value fails the step with an error that names the
// secret, the version and the key, never a value.
//
// SingleUser changes the password of the secret's user (simple, but
// AWSCURRENT stops working between setSecret and finishSecret).
// AlternatingUsers alternates between user and user_clone, so AWSCURRENT
// always works, and makes both logins act as user so objects keep a single
// owner. Either is used with rotation.New:
//
//	sm := secretsmanager.NewFromConfig(cfg)
//	r := rotation.New(sm, postgres.AlternatingUsers(superuserSecretARN))
//	lambda.Start(r.Handle)
//
// The constructors return no error: invalid options (an unknown SSLMode, a
// non-positive ConnectTimeout, an empty superuser secret id) make every
// method of the strategy return an error naming them, so the rotation's
// first step fails with a clear message.
//
// Passwords are set with ALTER ROLE ... PASSWORD and their SCRAM-SHA-256
// verifier, computed here, so neither the statement nor a server log holds
// the password; role names are quoted as identifiers.
package postgres
