package secretcache_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/rekeyhq/rekey/secretcache"
)

func TestGetCachesUntilTTL(t *testing.T) {
	e := newEnv(t)
	e.create(t, "app/db", "v1")
	for range 100 {
		e.mustString(t, "app/db", "v1")
	}
	e.wantCalls(t, 1, 0) // a first fetch is one GetSecretValue
	e.clock.Advance(testTTL - 1)
	e.mustString(t, "app/db", "v1")
	e.wantCalls(t, 1, 0)
	st := e.cache.Stats()
	if st.Hits != 100 || st.Misses != 1 || st.Calls.GetSecretValue != 1 || st.Calls.DescribeSecret != 0 || st.Refreshes != 1 || st.Entries != 1 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestFirstFetchErrorIsTypedAndNegativelyCached(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.cache.Get(ctx, "missing")
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("Get(missing) = %v, want ResourceNotFoundException", err)
	}
	var fe *secretcache.FetchError
	if !errors.As(err, &fe) || fe.SecretID != "missing" || fe.Op != "GetSecretValue" {
		t.Fatalf("Get(missing) = %#v, want *FetchError for it", err)
	}
	for range 10 {
		if _, err2 := e.cache.Get(ctx, "missing"); !errors.As(err2, &nf) {
			t.Fatalf("second Get = %v", err2)
		}
	}
	e.wantCalls(t, 1, 0)
	e.clock.Advance(secretcache.DefaultErrorBackoff)
	e.cache.Get(ctx, "missing")
	e.wantCalls(t, 2, 0)
}
