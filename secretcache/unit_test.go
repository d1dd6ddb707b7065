package secretcache_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
			c, err := secretcache.New(mc, func(o *secretcache.Options) { o.Clock = clock.fn })
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
	mc := newMemClient()
	mc.set("app/db", value)
	c, err := secretcache.New(mc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.Get(context.Background(), "app/db")
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s", "%T"} {
		out := fmt.Sprintf(verb, s)
		if strings.Contains(out, value) || strings.Contains(strings.ToLower(out), fmt.Sprintf("%x", value)) {
			t.Errorf("Sprintf(%q) = %q leaks the value", verb, out)
		}
	}
	if out := fmt.Sprint(s); !strings.Contains(out, "app/db") {
		t.Errorf("Sprint = %q, want the name", out)
	}
	if out := fmt.Sprintf("%v", []*secretcache.Secret{s}); strings.Contains(out, value) {
		t.Errorf("in a slice: %q", out)
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
	if _, err := secretcache.New(nil); err == nil {
		t.Fatal("New(nil) succeeded")
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
