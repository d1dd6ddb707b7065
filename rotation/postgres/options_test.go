package postgres_test

import (
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/rotation"
	"github.com/rekeyhq/rekey/rotation/postgres"
)

// invalidConstructions build strategies with invalid arguments; want is
// what their error must name.
var invalidConstructions = []struct {
	name  string
	build func() (rotation.Strategy, error)
	want  string
}{
	{"single SSLMode", func() (rotation.Strategy, error) {
		return postgres.SingleUser(func(o *postgres.Options) { o.SSLMode = "sometimes" })
	}, `SingleUser: Options.SSLMode "sometimes"`},
	{"single zero ConnectTimeout", func() (rotation.Strategy, error) {
		return postgres.SingleUser(func(o *postgres.Options) { o.ConnectTimeout = 0 })
	}, "SingleUser: Options.ConnectTimeout 0s is not positive"},
	{"single negative ConnectTimeout", func() (rotation.Strategy, error) {
		return postgres.SingleUser(func(o *postgres.Options) { o.ConnectTimeout = -time.Second })
	}, "SingleUser: Options.ConnectTimeout -1s is not positive"},
	{"alternating SSLMode", func() (rotation.Strategy, error) {
		return postgres.AlternatingUsers("arn:super", func(o *postgres.Options) { o.SSLMode = "" })
	}, `AlternatingUsers: Options.SSLMode ""`},
	{"alternating ConnectTimeout", func() (rotation.Strategy, error) {
		return postgres.AlternatingUsers("arn:super", func(o *postgres.Options) { o.ConnectTimeout = -1 })
	}, "AlternatingUsers: Options.ConnectTimeout"},
	{"alternating empty superuser id", func() (rotation.Strategy, error) {
		return postgres.AlternatingUsers("")
	}, "AlternatingUsers: the superuser secret id is empty"},
	{"alternating empty superuser id and invalid options", func() (rotation.Strategy, error) {
		return postgres.AlternatingUsers("", func(o *postgres.Options) { o.ConnectTimeout = -1 })
	}, "AlternatingUsers: the superuser secret id is empty"},
}

// TestInvalidArgumentsFailTheConstructor: invalid arguments are an error of
// the constructor, naming them, so a misconfigured rotation function fails
// when it starts rather than at its first step; never a panic, never a
// strategy.
func TestInvalidArgumentsFailTheConstructor(t *testing.T) {
	for _, tc := range invalidConstructions {
		t.Run(tc.name, func(t *testing.T) {
			var (
				s   rotation.Strategy
				err error
			)
			func() {
				defer func() {
					if v := recover(); v != nil {
						t.Fatalf("the constructor panicked: %v", v)
					}
				}()
				s, err = tc.build()
			}()
			if err == nil || !strings.HasPrefix(err.Error(), "postgres: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one starting with %q naming %q", err, "postgres: ", tc.want)
			}
			if s != nil {
				t.Errorf("the constructor returned a strategy with its error %v", err)
			}
		})
	}
}

// TestValidOptionsBuild: every documented SSLMode value, and the defaults,
// build a strategy with each constructor.
func TestValidOptionsBuild(t *testing.T) {
	for _, mode := range []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"} {
		opt := func(o *postgres.Options) { o.SSLMode = mode }
		if s, err := postgres.SingleUser(opt); err != nil || s == nil {
			t.Errorf("SingleUser with SSLMode %q = %v, %v", mode, s, err)
		}
		if s, err := postgres.AlternatingUsers("arn:super", opt); err != nil || s == nil {
			t.Errorf("AlternatingUsers with SSLMode %q = %v, %v", mode, s, err)
		}
	}
	if _, err := postgres.SingleUser(); err != nil {
		t.Errorf("SingleUser with the defaults: %v", err)
	}
	if _, err := postgres.AlternatingUsers("arn:super"); err != nil {
		t.Errorf("AlternatingUsers with the defaults: %v", err)
	}
}
