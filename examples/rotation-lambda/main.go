// Command rotation-lambda is an AWS Lambda function that rotates
// PostgreSQL credentials stored in Secrets Manager in the RDS format, with
// the single-user or the alternating-users strategy.
//
// Configuration, from the function's environment:
//
//	ROTATION_STRATEGY     "single" (default) or "alternating"
//	SUPERUSER_SECRET_ARN  the superuser secret; required for "alternating"
//	DB_SSLMODE            libpq sslmode for database logins; default "require"
//	EXCLUDE_CHARACTERS    characters new passwords must not contain;
//	                      default :/@"'\
//
// See README.md for the IAM permissions and how to deploy it.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/rotation"
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
// refuses an unknown strategy and a missing superuser secret; an invalid
// DB_SSLMODE fails every rotation step with an error naming it (the
// strategies check their options when called).
func newRotator(sm *secretsmanager.Client, getenv func(string) string, log *slog.Logger) (*rotation.Rotator, error) {
	sslMode := getenv("DB_SSLMODE")
	if sslMode == "" {
		sslMode = "require"
	}
	pgOpts := func(o *postgres.Options) {
		o.SSLMode = sslMode
		o.Logger = log
	}
	var strategy rotation.Strategy
	switch s := getenv("ROTATION_STRATEGY"); s {
	case "", "single":
		strategy = postgres.SingleUser(pgOpts)
	case "alternating":
		superuser := getenv("SUPERUSER_SECRET_ARN")
		if superuser == "" {
			return nil, fmt.Errorf("rotation-lambda: ROTATION_STRATEGY=alternating needs SUPERUSER_SECRET_ARN")
		}
		strategy = postgres.AlternatingUsers(superuser, pgOpts)
	default:
		return nil, fmt.Errorf("rotation-lambda: ROTATION_STRATEGY %q is neither \"single\" nor \"alternating\"", s)
	}
	return rotation.New(sm, strategy, func(o *rotation.Options) {
		o.Logger = log
		if ex := getenv("EXCLUDE_CHARACTERS"); ex != "" {
			o.Password.ExcludeCharacters = ex
		}
	}), nil
}
