// Command rotation-lambda is an AWS Lambda function that rotates database
// credentials stored in Secrets Manager in the RDS format, with the
// single-user or the alternating-users strategy. The secret's "engine" key
// picks the database: "postgres" or "aurora-postgresql" (or no key, as
// before MySQL support) rotate with rotation/postgres; "mysql", "mariadb",
// "aurora-mysql" or "aurora" with rotation/mysql. One deployment serves
// secrets of both kinds.
//
// Configuration, from the function's environment:
//
//	ROTATION_STRATEGY     "single" (default) or "alternating"
//	SUPERUSER_SECRET_ARN  the superuser secret; required for "alternating"
//	DB_SSLMODE            libpq sslmode for PostgreSQL logins; default "require"
//	MYSQL_TLS             TLS mode for MySQL logins whose secret has no "ssl"
//	                      key: "false", "preferred" (default), "skip-verify"
//	                      or "true"
//	EXCLUDE_CHARACTERS    characters new passwords must not contain;
//	                      default :/@"'\
//
// See README.md for the IAM permissions and how to deploy it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/rotation"
	"github.com/rekeyhq/rekey/rotation/mysql"
	"github.com/rekeyhq/rekey/rotation/postgres"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("loading AWS configuration", "error", err)
		os.Exit(1)
	}
	r, err := newRotator(secretsmanager.NewFromConfig(cfg), os.Getenv, log)
	if err != nil {
		log.Error("configuring the rotation function", "error", err)
		os.Exit(1)
	}
	lambda.Start(r.Handle)
}

// newRotator builds the function's Rotator from its environment, read
// through getenv. It makes no API call and opens no connection. It
// refuses an unknown strategy, a missing superuser secret and an invalid
// DB_SSLMODE or MYSQL_TLS, naming the variable, so a misconfigured
// function fails when it starts instead of at its first rotation step.
func newRotator(sm *secretsmanager.Client, getenv func(string) string, log *slog.Logger) (*rotation.Rotator, error) {
	sslMode := getenv("DB_SSLMODE")
	if sslMode == "" {
		sslMode = "require"
	}
	pgOpts := func(o *postgres.Options) {
		o.SSLMode = sslMode
		o.Logger = log
	}
	myOpts := func(o *mysql.Options) {
		if m := getenv("MYSQL_TLS"); m != "" {
			o.TLS = m
		}
		o.Logger = log
	}
	var (
		s            byEngine
		pgErr, myErr error
	)
	switch name := getenv("ROTATION_STRATEGY"); name {
	case "", "single":
		s.postgres, pgErr = postgres.SingleUser(pgOpts)
		s.mysql, myErr = mysql.SingleUser(myOpts)
	case "alternating":
		superuser := getenv("SUPERUSER_SECRET_ARN")
		if superuser == "" {
			return nil, fmt.Errorf("rotation-lambda: ROTATION_STRATEGY=alternating needs SUPERUSER_SECRET_ARN")
		}
		s.postgres, pgErr = postgres.AlternatingUsers(superuser, pgOpts)
		s.mysql, myErr = mysql.AlternatingUsers(superuser, myOpts)
	default:
		return nil, fmt.Errorf("rotation-lambda: ROTATION_STRATEGY %q is neither \"single\" nor \"alternating\"", name)
	}
	var errs []error
	if pgErr != nil {
		errs = append(errs, fmt.Errorf("rotation-lambda: DB_SSLMODE: %w", pgErr))
	}
	if myErr != nil {
		errs = append(errs, fmt.Errorf("rotation-lambda: MYSQL_TLS: %w", myErr))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	r, err := rotation.New(sm, s, func(o *rotation.Options) {
		o.Logger = log
		if ex := getenv("EXCLUDE_CHARACTERS"); ex != "" {
			o.Password.ExcludeCharacters = ex
		}
	})
	if err != nil {
		return nil, fmt.Errorf("rotation-lambda: %w", err)
	}
	return r, nil
}

// byEngine is a rotation.Strategy that hands each call to the strategy of
// the engine the secret's "engine" key names.
type byEngine struct {
	postgres, mysql rotation.Strategy
}

// pick returns the strategy for s's engine. A value that is not a JSON
// object is handed to PostgreSQL's strategy, whose error then names the
// secret and version; the value is never echoed.
func (b byEngine) pick(s rotation.Secret) (rotation.Strategy, error) {
	var v struct {
		Engine *string `json:"engine"`
	}
	if json.Unmarshal(s.Value(), &v) != nil || v.Engine == nil {
		return b.postgres, nil
	}
	switch *v.Engine {
	case "postgres", "aurora-postgresql":
		return b.postgres, nil
	case "mysql", "mariadb", "aurora-mysql", "aurora":
		return b.mysql, nil
	}
	return nil, fmt.Errorf("rotation-lambda: secret %q version %s: engine %q is none of postgres, aurora-postgresql, mysql, mariadb, aurora-mysql, aurora", s.ARN, s.VersionID, *v.Engine)
}

func (b byEngine) NewPending(ctx context.Context, current rotation.Secret, password string) ([]byte, error) {
	s, err := b.pick(current)
	if err != nil {
		return nil, err
	}
	return s.NewPending(ctx, current, password)
}

// Apply goes by the current version: a rotation never changes the engine.
func (b byEngine) Apply(ctx context.Context, v rotation.Versions) error {
	s, err := b.pick(v.Current)
	if err != nil {
		return err
	}
	return s.Apply(ctx, v)
}

func (b byEngine) Verify(ctx context.Context, pending rotation.Secret) error {
	s, err := b.pick(pending)
	if err != nil {
		return err
	}
	return s.Verify(ctx, pending)
}
