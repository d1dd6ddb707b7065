package postgres

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// Options configure a strategy. The constructors copy the defaults, apply
// the caller's functions to the copy and validate the result: invalid
// options make the constructor return an error that names the option, so
// a misconfigured rotation function fails when it starts, not at its
// first step.
type Options struct {
	// ConnectTimeout bounds each login, including TLS negotiation and
	// authentication. Default 5s. The step's context bounds it too.
	ConnectTimeout time.Duration

	// SSLMode is the libpq sslmode of every connection: "disable", "allow",
	// "prefer", "require", "verify-ca" or "verify-full". Default "prefer".
	// For verify-ca and verify-full, supply the CA with ConnConfig.
	SSLMode string

	// ConnConfig, when not nil, is called with each connection's config
	// before connecting, e.g. to set TLSConfig.RootCAs or
	// RuntimeParams["application_name"]. It must not log the config, which
	// holds a password.
	ConnConfig func(*pgx.ConnConfig)

	// Logger receives one record per decision (which login worked, whether
	// the password was already set, whether a role was created). Records
	// name roles and secret versions, never passwords. nil: no logging.
	Logger *slog.Logger
}

// newOptions returns the options optFns make of the defaults, or an error
// naming the first invalid one; constructor names the strategy for it.
func newOptions(constructor string, optFns []func(*Options)) (Options, error) {
	o := Options{ConnectTimeout: 5 * time.Second, SSLMode: "prefer"}
	for _, fn := range optFns {
		fn(&o)
	}
	if o.ConnectTimeout <= 0 {
		return o, fmt.Errorf("postgres: %s: Options.ConnectTimeout %v is not positive", constructor, o.ConnectTimeout)
	}
	switch o.SSLMode {
	case "disable", "allow", "prefer", "require", "verify-ca", "verify-full":
	default:
		return o, fmt.Errorf("postgres: %s: Options.SSLMode %q is not a libpq sslmode", constructor, o.SSLMode)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}
