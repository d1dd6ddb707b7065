package mysql

import (
	"fmt"
	"log/slog"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
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

	// TLS is the TLS mode of every connection whose secret has no "ssl"
	// key, in go-sql-driver/mysql's terms: "false" (plaintext), "preferred"
	// (TLS when the server offers it, else plaintext; the certificate is
	// not verified), "skip-verify" (TLS required, certificate not
	// verified) or "true" (TLS required, certificate verified against the
	// system roots or the RootCAs Config sets). Default "preferred".
	//
	// A secret's "ssl" key overrides it, as in AWS's rotation functions:
	// true requires TLS (verified when TLS is "true", else not), false
	// means plaintext. See the package documentation.
	TLS string

	// Config, when not nil, is called with each connection's config before
	// connecting, e.g. to set TLS (a *tls.Config with the RDS CA bundle in
	// RootCAs) or Params. It must not log the config, which holds a
	// password. After it runs, InterpolateParams is set to true (the
	// strategies rely on the driver quoting their arguments) and, when the
	// TLS mode is "false", TLS is cleared.
	Config func(*mysqldriver.Config)

	// Logger receives one record per decision (which login worked, whether
	// the password was already set, whether a user was created). Records
	// name users and secret versions, never passwords. nil: no logging.
	Logger *slog.Logger
}

// newOptions returns the options optFns make of the defaults, or an error
// naming the first invalid one; constructor names the strategy for it.
func newOptions(constructor string, optFns []func(*Options)) (Options, error) {
	o := Options{ConnectTimeout: 5 * time.Second, TLS: "preferred"}
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ConnectTimeout <= 0 {
		return o, fmt.Errorf("mysql: %s: Options.ConnectTimeout %v is not positive", constructor, o.ConnectTimeout)
	}
	switch o.TLS {
	case "false", "preferred", "skip-verify", "true":
	default:
		return o, fmt.Errorf("mysql: %s: Options.TLS %q is not one of \"false\", \"preferred\", \"skip-verify\", \"true\"", constructor, o.TLS)
	}
	return o, nil
}
