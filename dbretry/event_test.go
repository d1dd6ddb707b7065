package dbretry_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/rekeyhq/rekey/dbretry"
	"github.com/rekeyhq/rekey/secretcache"
)

// A login refused in the single-user rotation window emits an auth
// failure for the AWSCURRENT version with its SQLSTATE, then a switch to
// AWSPENDING; no event holds a password.
func TestEventsAuthFailureAndSwitch(t *testing.T) {
	e, oldPassword := newDBEnv(t, func(o *secretcache.Options) { o.MinRefreshInterval = -1 })
	var mu sync.Mutex
	var evs []dbretry.Event
	src := newSource(t, e.cache, secretName, func(o *dbretry.Options) {
		o.Logger = testLogger(t)
		o.OnEvent = func(ev dbretry.Event) {
			mu.Lock()
			defer mu.Unlock()
			evs = append(evs, ev)
		}
	})
	defer src.Close()
	db := dbretry.OpenDB(src)
	defer db.Close()
	db.SetMaxIdleConns(0) // every Ping logs in anew
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	first, err := src.Credentials(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	pending := e.openWindow(t)
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatalf("Ping in the window: %v", err)
	}
	now, err := src.Credentials(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(evs) != 2 {
		t.Fatalf("events %+v, want an auth failure and a switch", evs)
	}
	if ev := evs[0]; ev.Kind != dbretry.EventAuthFailure || ev.SecretID != secretName || ev.VersionID != first.VersionID ||
		ev.Attempt != 1 || ev.Code != "28P01" || !dbretry.IsAuthError(ev.Err) {
		t.Errorf("first event = %+v, want auth_failure of %s with 28P01", ev, first.VersionID)
	}
	if ev := evs[1]; ev.Kind != dbretry.EventCredentialSwitch || ev.FromVersionID != first.VersionID ||
		ev.VersionID != pending || ev.Stage != secretcache.StagePending {
		t.Errorf("second event = %+v, want a switch from %s to %s (AWSPENDING)", ev, first.VersionID, pending)
	}
	for _, ev := range evs {
		for _, verb := range []string{"%v", "%+v", "%#v"} {
			out := fmt.Sprintf(verb, ev)
			if strings.Contains(out, oldPassword) || strings.Contains(out, now.Password) {
				t.Errorf("Sprintf(%q, %s event) leaks a password: %s", verb, ev.Kind, out)
			}
		}
	}
}

func TestEventKindString(t *testing.T) {
	for k, want := range map[dbretry.EventKind]string{
		dbretry.EventAuthFailure: "auth_failure", dbretry.EventCredentialSwitch: "credential_switch", 0: "EventKind(0)",
	} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", k, got, want)
		}
	}
}
