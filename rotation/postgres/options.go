package postgres

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// Options configure a strategy. The constructors copy the defaults and
// apply the caller's functions to the copy.
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

	// Client reads the superuser secret of AlternatingUsers. nil: the
	// client of the rotation.Rotator running the strategy (Versions.Client).
	// SingleUser reads no other secret and ignores it.
	Client SecretsClient

	// Logger receives one record per decision (which login worked, whether
	// the password was already set, whether a role was created). Records
	// name roles and secret versions, never passwords. nil: no logging.
	Logger *slog.Logger
}

func newOptions(optFns []func(*Options)) (Options, error) {
	o := Options{ConnectTimeout: 5 * time.Second, SSLMode: "prefer"}
	for _, fn := range optFns {
		fn(&o)
	}
	if o.ConnectTimeout <= 0 {
		return o, fmt.Errorf("postgres: ConnectTimeout %v is not positive", o.ConnectTimeout)
	}
	switch o.SSLMode {
	case "disable", "allow", "prefer", "require", "verify-ca", "verify-full":
	default:
		return o, fmt.Errorf("postgres: unknown SSLMode %q", o.SSLMode)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}
