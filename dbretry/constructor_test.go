package dbretry_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rekeyhq/rekey/dbretry"
	"github.com/rekeyhq/rekey/secretcache"
)

// noPanic calls f and fails the test if it panics: bad input must come
// back as an error.
func noPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s panicked: %v", what, r)
		}
	}()
	f()
}

// NewSource returns an error, never a panic, for each bad argument, and
// makes no API call either way.
func TestNewSourceRejectsBadInput(t *testing.T) {
	e := newEnv(t, nil, "pw")
	tests := []struct {
		name   string
		cache  *secretcache.Cache
		id     string
		opt    func(*dbretry.Options)
		wantIn []string // substrings of the error
	}{
		{name: "nil cache", id: secretName, wantIn: []string{"nil *secretcache.Cache"}},
		{name: "empty id", cache: e.cache, wantIn: []string{"empty secret id"}},
		{name: "negative RetryBudget", cache: e.cache, id: secretName,
			opt: func(o *dbretry.Options) { o.RetryBudget = -time.Second }, wantIn: []string{"RetryBudget -1s"}},
		{name: "negative MinBackoff", cache: e.cache, id: secretName,
			opt: func(o *dbretry.Options) { o.MinBackoff = -time.Millisecond }, wantIn: []string{"MinBackoff -1ms"}},
		{name: "negative MaxBackoff", cache: e.cache, id: secretName,
			opt: func(o *dbretry.Options) { o.MaxBackoff = -1 }, wantIn: []string{"MaxBackoff -1ns"}},
		{name: "every negative duration, each named", cache: e.cache, id: secretName,
			opt: func(o *dbretry.Options) {
				o.RetryBudget, o.MinBackoff, o.MaxBackoff = -1, -2, -3
			}, wantIn: []string{"RetryBudget", "MinBackoff", "MaxBackoff"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opts []func(*dbretry.Options)
			if tc.opt != nil {
				opts = append(opts, tc.opt)
			}
			var (
				src *dbretry.Source
				err error
			)
			noPanic(t, "NewSource", func() { src, err = dbretry.NewSource(tc.cache, tc.id, opts...) })
			if err == nil {
				src.Close()
				t.Fatal("NewSource succeeded")
			}
			if src != nil {
				t.Errorf("NewSource returned a Source with its error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "dbretry: ") {
				t.Errorf("error %q does not start with %q", err, "dbretry: ")
			}
			for _, s := range tc.wantIn {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
	if n := e.cacheCalls(); n != 0 {
		t.Errorf("%d API calls, want none", n)
	}
}

// The values Options documents as meaningful are accepted: zero for the
// default, a negative RereadInterval for no bound, and a MaxBackoff below
// MinBackoff, which is raised.
func TestNewSourceAcceptsDocumentedValues(t *testing.T) {
	e := newEnv(t, nil, "pw")
	for name, opt := range map[string]func(*dbretry.Options){
		"zero values":                 func(*dbretry.Options) {},
		"negative RereadInterval":     func(o *dbretry.Options) { o.RereadInterval = -1 },
		"MaxBackoff below MinBackoff": func(o *dbretry.Options) { o.MinBackoff, o.MaxBackoff = 2*time.Second, time.Second },
	} {
		t.Run(name, func(t *testing.T) {
			src, err := dbretry.NewSource(e.cache, secretName, func(o *dbretry.Options) { *o = dbretry.Options{} }, opt)
			if err != nil {
				t.Fatal(err)
			}
			if err := src.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A nil or zero Source fails every constructor that takes one, or for
// those that cannot fail (OpenDB), every connect: with an error, at once,
// never with a panic.
func TestNilOrZeroSourceFailsWithAnError(t *testing.T) {
	ctx := t.Context()
	dial := func(context.Context, dbretry.Credentials) (int, error) {
		t.Error("connect called without a Source")
		return 0, nil
	}
	for name, src := range map[string]*dbretry.Source{"nil": nil, "zero": {}} {
		t.Run(name, func(t *testing.T) {
			noPanic(t, "Credentials", func() {
				if _, err := src.Credentials(ctx); err == nil || !strings.HasPrefix(err.Error(), "dbretry: ") {
					t.Errorf("Credentials = %v, want a dbretry error", err)
				}
			})
			noPanic(t, "Connect", func() {
				if _, err := dbretry.Connect(ctx, src, dial); err == nil || !strings.HasPrefix(err.Error(), "dbretry: ") {
					t.Errorf("Connect = %v, want a dbretry error", err)
				}
			})
			noPanic(t, "NewPool", func() {
				if p, err := dbretry.NewPool(ctx, src, nil); err == nil || !strings.HasPrefix(err.Error(), "dbretry: ") {
					if p != nil {
						p.Close()
					}
					t.Errorf("NewPool = %v, want a dbretry error", err)
				}
			})
			noPanic(t, "OpenDB", func() {
				db := dbretry.OpenDB(src)
				defer db.Close()
				for range 2 { // every connect, not only the first
					if err := db.PingContext(ctx); err == nil || !strings.Contains(err.Error(), "dbretry: ") {
						t.Errorf("Ping = %v, want a dbretry error", err)
					}
				}
			})
			noPanic(t, "Close", func() {
				if err := src.Close(); err != nil {
					t.Errorf("Close = %v", err)
				}
			})
		})
	}
}

// Connect with a nil connect func fails before reading the secret.
func TestConnectNilFunc(t *testing.T) {
	e := newEnv(t, nil, "pw")
	src := newSource(t, e.cache, secretName)
	var err error
	noPanic(t, "Connect", func() { _, err = dbretry.Connect[int](t.Context(), src, nil) })
	if err == nil || !strings.HasPrefix(err.Error(), "dbretry: ") {
		t.Errorf("Connect(nil func) = %v, want a dbretry error", err)
	}
	if n := e.cacheCalls(); n != 0 {
		t.Errorf("%d API calls, want none", n)
	}
}

// A pgxpool.Config built by hand, on which pgxpool.NewWithConfig would
// panic, is an error of NewPool.
func TestNewPoolRejectsConfigNotFromParseConfig(t *testing.T) {
	e := newEnv(t, nil, "pw")
	src := newSource(t, e.cache, secretName)
	cc, err := pgx.ParseConfig("host=localhost")
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]*pgxpool.Config{
		"zero":                {},
		"ConnConfig from pgx": {ConnConfig: cc, MaxConns: 1},
	} {
		t.Run(name, func(t *testing.T) {
			var err error
			noPanic(t, "NewPool", func() {
				var p *dbretry.Pool
				if p, err = dbretry.NewPool(t.Context(), src, cfg); p != nil {
					p.Close()
				}
			})
			if err == nil || !strings.HasPrefix(err.Error(), "dbretry: ") || !strings.Contains(err.Error(), "pgxpool.ParseConfig") {
				t.Errorf("NewPool = %v, want a dbretry error naming pgxpool.ParseConfig", err)
			}
		})
	}
}
