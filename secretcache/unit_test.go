package secretcache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/secretcache"
)

func TestHitPathDoesNotAllocate(t *testing.T) {
	mc := newMemClient()
	mc.set("app/db", "hunter2")
	for _, clock := range []struct {
		name string
		fn   func() time.Time
	}{{"monotonic", nil}, {"fake", newFakeClock().Now}} {
		t.Run(clock.name, func(t *testing.T) {
			c, err := secretcache.New(mc, func(o *secretcache.Options) { secretcache.SetClock(o, clock.fn) })
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			if _, err := c.GetSecretString(ctx, "app/db"); err != nil {
				t.Fatal(err)
			}
			if n := testing.AllocsPerRun(1000, func() { c.GetSecretString(ctx, "app/db") }); n != 0 {
				t.Errorf("GetSecretString hit: %v allocs/op, want 0", n)
			}
			if n := testing.AllocsPerRun(1000, func() { c.Get(ctx, "app/db") }); n != 0 {
				t.Errorf("Get hit: %v allocs/op, want 0", n)
			}
		})
	}
}

func TestSecretFormatNeverPrintsValue(t *testing.T) {
	const value = "s3cr3t-Value"
	e := newEnv(t)
	e.create(t, "app/db", value)
	s, err := e.cache.Get(context.Background(), "app/db")
	if err != nil {
		t.Fatal(err)
	}
	leaks := func(out string) bool {
		return strings.Contains(out, value) || strings.Contains(strings.ToLower(out), fmt.Sprintf("%x", value))
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s", "%T"} {
		if out := fmt.Sprintf(verb, s); leaks(out) {
			t.Errorf("Sprintf(%q, s) = %q leaks the value", verb, out)
		}
		if out := fmt.Sprintf(verb, *s); leaks(out) {
			t.Errorf("Sprintf(%q, *s) = %q leaks the value", verb, out)
		}
	}
	if out := fmt.Sprint(s); !strings.Contains(out, "app/db") {
		t.Errorf("Sprint = %q, want the name", out)
	}
	if out := fmt.Sprintf("%v %+v", []*secretcache.Secret{s}, []secretcache.Secret{*s}); leaks(out) {
		t.Errorf("in a slice: %q", out)
	}
	if out := fmt.Sprintf("%+v", struct{ S secretcache.Secret }{*s}); leaks(out) {
		t.Errorf("in a struct: %q", out)
	}
	var nilSecret *secretcache.Secret
	if out := fmt.Sprintf("%v %+v %s", nilSecret, nilSecret, nilSecret); out != "<nil> <nil> <nil>" {
		t.Errorf("nil *Secret prints %q", out)
	}

	var buf bytes.Buffer
	for name, h := range map[string]slog.Handler{
		"json": slog.NewJSONHandler(&buf, nil),
		"text": slog.NewTextHandler(&buf, nil),
	} {
		buf.Reset()
		slog.New(h).Info("read", "secret", s, "copy", *s, slog.Any("any", s))
		out := buf.String()
		if leaks(out) || strings.Count(out, s.VersionID()) != 3 || !strings.Contains(out, "app/db") {
			t.Errorf("slog %s: %s", name, out)
		}
	}
}

func TestPanickingClientFailsTheFetch(t *testing.T) {
	mc := newMemClient()
	mc.override = func(string) (*secretsmanager.GetSecretValueOutput, error) { panic("client bug") }
	c, err := secretcache.New(mc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Get(context.Background(), "s")
	if !errors.Is(err, secretcache.ErrCallbackPanic) || !strings.Contains(err.Error(), "client bug") || strings.Contains(err.Error(), "goroutine") {
		t.Fatalf("Get = %v, want an error wrapping ErrCallbackPanic without the stack", err)
	}
}

func TestGetJSON(t *testing.T) {
	type creds struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Port     int    `json:"port"`
	}
	mc := newMemClient()
	mc.set("good", `{"username":"app","password":"pw","port":5432}`)
	mc.set("syntax", `{"username":"app","password":"Xyzzy-leak`)
	mc.set("badchar", `{"password": Xyzzy}`)
	mc.set("type", `{"port":"Xyzzy"}`)
	mc.set("number", `{"username":12345678}`)
	c, err := secretcache.New(mc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	got, err := secretcache.GetJSON[creds](ctx, c, "good")
	if err != nil || got != (creds{"app", "pw", 5432}) {
		t.Fatalf("GetJSON = %+v, %v", got, err)
	}
	for _, id := range []string{"syntax", "badchar", "type", "number"} {
		t.Run(id, func(t *testing.T) {
			_, err := secretcache.GetJSON[creds](ctx, c, id)
			if !errors.Is(err, secretcache.ErrInvalidJSON) {
				t.Fatalf("GetJSON = %v, want ErrInvalidJSON", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, `"`+id+`"`) || strings.Contains(msg, "Xyzzy") || strings.Contains(msg, "X") || strings.Contains(msg, "12345678") {
				t.Fatalf("error %q must name the secret and quote none of its value", msg)
			}
		})
	}
	if _, err := secretcache.GetJSON[creds](ctx, c, "absent"); err == nil {
		t.Fatal("GetJSON of a missing secret succeeded")
	}
}

func TestOversizeValueIsRejected(t *testing.T) {
	mc := newMemClient()
	mc.override = func(name string) (*secretsmanager.GetSecretValueOutput, error) {
		return &secretsmanager.GetSecretValueOutput{Name: aws.String(name), VersionId: aws.String("v"),
			SecretString: aws.String(strings.Repeat("x", secretcache.MaxValueSize+1))}, nil
	}
	c, err := secretcache.New(mc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Get(context.Background(), "huge")
	if !errors.Is(err, secretcache.ErrValueTooLarge) || !strings.Contains(err.Error(), `"huge"`) {
		t.Fatalf("Get = %v, want ErrValueTooLarge naming the secret", err)
	}
}

func TestNewValidatesOptions(t *testing.T) {
	mc := newMemClient()
	for name, fn := range map[string]func(*secretcache.Options){
		"negative TTL":          func(o *secretcache.Options) { o.TTL = -1 },
		"jitter above 1":        func(o *secretcache.Options) { o.Jitter = 1.5 },
		"backoff above max":     func(o *secretcache.Options) { o.ErrorBackoff = time.Hour; o.MaxErrorBackoff = time.Minute },
		"negative MaxEntries":   func(o *secretcache.Options) { o.MaxEntries = -1 },
		"negative poll":         func(o *secretcache.Options) { o.RotationPollInterval = -1 },
		"negative FetchTimeout": func(o *secretcache.Options) { o.FetchTimeout = -1 },
	} {
		t.Run(name, func(t *testing.T) {
			if c, err := secretcache.New(mc, fn); err == nil {
				c.Close()
				t.Fatal("New accepted invalid options")
			}
		})
	}
	for name, client := range map[string]secretcache.Client{"nil": nil, "nil *secretsmanager.Client": (*secretsmanager.Client)(nil)} {
		if c, err := secretcache.New(client); err == nil || !strings.HasPrefix(err.Error(), "secretcache: ") {
			if c != nil {
				c.Close()
			}
			t.Errorf("New(%s) = %v, want a secretcache error", name, err)
		}
	}
	var o secretcache.Options
	c, err := secretcache.New(mc, func(p *secretcache.Options) { *p = o })
	if err != nil {
		t.Fatalf("zero Options must mean defaults: %v", err)
	}
	c.Close()
}

func TestInvalidSecretIDs(t *testing.T) {
	c, err := secretcache.New(newMemClient())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, id := range []string{"", "a\x00b", "a\x01b"} {
		if _, err := c.Get(context.Background(), id); err == nil {
			t.Errorf("Get(%q) succeeded", id)
		}
	}
}

func TestEvictionKeepsWithinMaxEntries(t *testing.T) {
	mc := newMemClient()
	for i := range 100 {
		mc.set(fmt.Sprint("s", i), fmt.Sprint("v", i))
	}
	c, err := secretcache.New(mc, func(o *secretcache.Options) { o.MaxEntries = 10 })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	hot := func() {
		if v, err := c.GetSecretString(ctx, "s0"); err != nil || v != "v0" {
			t.Fatalf("s0 = %q, %v", v, err)
		}
	}
	for i := range 100 {
		hot() // s0 stays referenced, so CLOCK keeps it
		if v, err := c.GetSecretString(ctx, fmt.Sprint("s", i)); err != nil || v != fmt.Sprint("v", i) {
			t.Fatalf("s%d = %q, %v", i, v, err)
		}
	}
	st := c.Stats()
	if st.Entries != 10 || st.Evictions != 90 {
		t.Fatalf("Entries=%d Evictions=%d, want 10 and 90", st.Entries, st.Evictions)
	}
	before := mc.calls.Load()
	hot()
	if mc.calls.Load() != before {
		t.Fatal("the most used secret was evicted")
	}
}

// TestIndexStress reads, refreshes and invalidates 300 secrets through a
// 50-entry cache from 8 goroutines, so the index grows, evicts and
// removes entries while lock-free lookups walk it. Run with -race.
func TestIndexStress(t *testing.T) {
	mc := newMemClient()
	const n = 300
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprint("k", i)
		mc.set(ids[i], fmt.Sprint("v", i))
	}
	c, err := secretcache.New(mc, func(o *secretcache.Options) { o.MaxEntries = 50; o.MinRefreshInterval = -1 })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ops := 4000
	if raceEnabled {
		ops = 1500
	}
	var wg sync.WaitGroup
	var bad atomic.Int64
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			ctx := context.Background()
			for range ops {
				i := r.IntN(n)
				var s *secretcache.Secret
				var err error
				switch k := r.IntN(100); {
				case k < 2:
					c.Invalidate(ids[i])
					continue
				case k < 4:
					s, err = c.Refresh(ctx, ids[i])
				case k < 10:
					s, err = c.Get(ctx, ids[i], secretcache.WithStage(secretcache.StageCurrent))
				default:
					s, err = c.Get(ctx, ids[i])
				}
				if err != nil {
					bad.Add(1)
					continue
				}
				if v, _ := s.Text(); v != fmt.Sprint("v", i) {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	st := c.Stats()
	if bad.Load() != 0 || st.Entries > 50 || st.Evictions == 0 {
		t.Fatalf("%d bad reads; Stats = %+v", bad.Load(), st)
	}
	for i, id := range ids {
		if v, err := c.GetSecretString(context.Background(), id); err != nil || v != fmt.Sprint("v", i) {
			t.Fatalf("after the storm %s = %q, %v", id, v, err)
		}
	}
}
