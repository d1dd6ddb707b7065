package mysql_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/rekeyhq/rekey/internal/rotationtest"
	"github.com/rekeyhq/rekey/rotation"
	"github.com/rekeyhq/rekey/rotation/mysql"
)

// cutter kills the connection carrying the n-th statement (COM_QUERY)
// that the strategy's connections send, counting over all of them: before
// the statement is written (a crash just before it), or just after (the
// server runs it, the reply is lost).
type cutter struct {
	n     int64
	after bool
	seen  atomic.Int64
}

func (c *cutter) options(o *mysql.Options) {
	o.TLS = "false" // the cutter reads the plaintext protocol
	o.Config = func(cfg *mysqldriver.Config) {
		cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &cutConn{Conn: conn, c: c}, nil
		}
	}
}

type cutConn struct {
	net.Conn
	c *cutter
}

func (cc *cutConn) Write(p []byte) (int, error) {
	// A command packet has sequence id 0; COM_QUERY is 0x03.
	if len(p) > 4 && p[3] == 0 && p[4] == 0x03 && cc.c.seen.Add(1) == cc.c.n {
		if cc.c.after {
			n, _ := cc.Conn.Write(p)
			cc.Conn.Close()
			return n, nil
		}
		cc.Conn.Close()
		return 0, errors.New("cut before the statement")
	}
	return cc.Conn.Write(p)
}

// TestCrashAtEveryStatement cuts a rotation at each database statement in
// turn, before it reaches the server and after, and checks that the state
// left behind keeps AWSCURRENT working (single-user: AWSCURRENT or
// AWSPENDING), that no clone logs in with the original's password, and
// that the next rotation finishes the same one.
func TestCrashAtEveryStatement(t *testing.T) {
	for _, st := range strategies {
		for _, after := range []bool{false, true} {
			name := st.name + "/before"
			if after {
				name = st.name + "/after"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				for n := int64(1); ; n++ {
					if n > 40 {
						t.Fatal("more than 40 statements in a rotation")
					}
					e := newEnv(t)
					c := &cutter{n: n, after: after}
					err := newRotator(t, e.sm, st.new(t, e, c.options)).Rotate(t.Context(), e.arn)
					if c.seen.Load() < n {
						if err != nil {
							t.Fatalf("uncut rotation: %v", err)
						}
						if n < 4 {
							t.Fatalf("only %d statements: the cutter is not in the strategy's path", n-1)
						}
						t.Logf("cut each of %d statements", n-1)
						return
					}
					if err == nil {
						// The cut hit a probe (does the pending login work
						// yet?) whose failure the strategy takes in its
						// stride.
						e.requireRotated(t, creds{e.user, e.initial})
						continue
					}
					if err := rotationtest.Invariant(t.Context(), engine{e}, st.name == "single"); err != nil {
						t.Fatalf("cut at statement %d: %v", n, err)
					}
					if _, ok := e.login(t, creds{e.user + "_clone", e.initial}); ok {
						t.Fatalf("cut at statement %d: the clone logs in with the original's password", n)
					}
					pending, _ := e.version(t, rotation.StagePending)
					if err := newRotator(t, e.sm, st.new(t, e)).Rotate(t.Context(), e.arn); err != nil {
						t.Fatalf("cut at statement %d, then Rotate: %v", n, err)
					}
					cur := e.requireRotated(t, creds{e.user, e.initial})
					if pending != (creds{}) && cur != pending {
						t.Fatalf("cut at statement %d: the resumed rotation did not finish the pending value", n)
					}
				}
			})
		}
	}
}
