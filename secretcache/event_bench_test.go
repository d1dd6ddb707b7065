package secretcache_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/secretcache"
)

// describeFails is a memClient whose DescribeSecret always fails, so that
// a stale entry stays in its error backoff and every read is a stale hit
// that starts no refresh.
type describeFails struct{ *memClient }

func (describeFails) DescribeSecret(context.Context, *secretsmanager.DescribeSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	return nil, errors.New("bench: DescribeSecret unavailable")
}

// BenchmarkGet measures the read path with and without Options.OnEvent:
// a fresh hit emits nothing, a stale hit emits EventStale.
func BenchmarkGet(b *testing.B) {
	mc := newMemClient()
	mc.set("app/db", "hunter2")
	var events atomic.Int64
	hook := func(secretcache.Event) { events.Add(1) }
	for _, tc := range []struct {
		name  string
		stale bool
		hook  func(secretcache.Event)
	}{
		{"hit/nohook", false, nil},
		{"hit/hook", false, hook},
		{"stale/nohook", true, nil},
		{"stale/hook", true, hook},
	} {
		c, err := secretcache.New(describeFails{mc}, func(o *secretcache.Options) {
			o.OnEvent = tc.hook
			if tc.stale {
				o.TTL = time.Nanosecond
				o.Jitter = -1
				o.ErrorBackoff = time.Hour
				o.MaxErrorBackoff = time.Hour
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		if _, err := c.Get(ctx, "app/db"); err != nil {
			b.Fatal(err)
		}
		if tc.stale {
			// The first stale read starts the refresh that fails.
			time.Sleep(time.Millisecond)
			c.Get(ctx, "app/db")
			for c.Stats().Errors == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Get(ctx, "app/db"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Get(ctx, "app/db"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		c.Close()
	}
}
