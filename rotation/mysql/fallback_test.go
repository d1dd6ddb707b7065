package mysql_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/rekeyhq/rekey/rotation"
	"github.com/rekeyhq/rekey/rotation/mysql"
)

// noTLSProxy forwards TCP connections to addr and clears CLIENT_SSL in
// the server's greeting, so clients see a server without TLS. It stops,
// and waits for its goroutines, in t.Cleanup.
func noTLSProxy(t testing.TB, addr string) (host string, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn // guarded by mu; closed at cleanup
	)
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			track(client)
			wg.Add(1)
			go func() {
				defer wg.Done()
				upstream, err := net.Dial("tcp", addr)
				if err != nil {
					client.Close()
					return
				}
				track(upstream)
				// The greeting: a 4-byte header, protocol version 10, the
				// server version up to NUL, a 4-byte connection id, 8
				// bytes of scramble, a filler, then the low 16 capability
				// bits, of which CLIENT_SSL is 0x0800.
				var hdr [4]byte
				if _, err := io.ReadFull(upstream, hdr[:]); err != nil {
					return
				}
				payload := make([]byte, int(hdr[0])|int(hdr[1])<<8|int(hdr[2])<<16)
				if _, err := io.ReadFull(upstream, payload); err != nil {
					return
				}
				i := 1
				for i < len(payload) && payload[i] != 0 {
					i++
				}
				if caps := i + 1 + 4 + 8 + 1; caps+1 < len(payload) {
					payload[caps+1] &^= 0x08
				}
				client.Write(hdr[:])
				client.Write(payload)
				wg.Add(1)
				go func() {
					defer wg.Done()
					io.Copy(upstream, client)
					upstream.Close()
				}()
				io.Copy(client, upstream)
				client.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	h, p, _ := net.SplitHostPort(ln.Addr().String())
	port, _ = strconv.Atoi(p)
	return h, port
}

// TestTLSFallback: against a server that offers no TLS, a secret without
// an "ssl" key falls back to plaintext (Options.TLS "preferred"), while
// "ssl": true, or Options.TLS "true", refuses to.
func TestTLSFallback(t *testing.T) {
	for _, tc := range []struct {
		name string
		ssl  any
		opt  func(*mysql.Options)
		ok   bool
	}{
		{"no key", nil, func(*mysql.Options) {}, true},
		{"ssl false", false, func(*mysql.Options) {}, true},
		{"ssl true", true, func(*mysql.Options) {}, false},
		{"no key, Options.TLS true", nil, func(o *mysql.Options) { o.TLS = "true" }, false},
	} {
		for _, st := range strategies {
			t.Run(tc.name+"/"+st.name, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				host, port := noTLSProxy(t, e.my.Addr())
				v := map[string]any{"engine": "mysql", "host": host, "port": port, "username": e.user, "password": e.initial, "dbname": e.db, "note": "kept"}
				if tc.ssl != nil {
					v["ssl"] = tc.ssl
				}
				e.arn = e.createSecretValue(t, fmt.Sprintf("db/notls%d", userSeq.Add(1)), v)
				err := newRotator(t, e.sm, st.new(t, e, tc.opt)).Rotate(t.Context(), e.arn)
				if tc.ok {
					if err != nil {
						t.Fatalf("Rotate through a server without TLS: %v", err)
					}
					e.requireRotated(t, creds{e.user, e.initial})
					return
				}
				var se *rotation.StepError
				if !errors.As(err, &se) || se.Step != rotation.SetSecret || !errors.Is(err, mysqldriver.ErrNoTLS) {
					t.Fatalf("Rotate = %v, want setSecret to fail with the driver's ErrNoTLS", err)
				}
			})
		}
	}
}
