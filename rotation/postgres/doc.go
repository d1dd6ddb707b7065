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
//	s, err := postgres.AlternatingUsers(superuserSecretARN)
//	if err != nil { ... }
//	r, err := rotation.New(secretsmanager.NewFromConfig(cfg), s)
//	if err != nil { ... }
//	lambda.Start(r.Handle)
//
// The constructors validate their arguments and return an error naming the
// first invalid one (an unknown SSLMode, a non-positive ConnectTimeout, an
// empty superuser secret id), so a misconfigured rotation function fails
// when it starts, before any rotation step. They make no API call and open
// no connection.
//
// Passwords are set with ALTER ROLE ... PASSWORD and their SCRAM-SHA-256
// verifier, computed here, so neither the statement nor a server log holds
// the password; role names are quoted as identifiers.
package postgres
