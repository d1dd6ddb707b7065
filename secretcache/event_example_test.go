package secretcache_test

import (
	"context"
	"fmt"
	"log"

	"github.com/rekeyhq/rekey/secretcache"
)

// A hook sees each API call and refresh; fresh hits emit nothing. Here it
// prints; a real hook records metrics (see package otelcache) and must not
// block.
func ExampleOptions_onEvent() {
	sm, stop := exampleClient("prod/api-key", "k-123")
	defer stop()

	cache, err := secretcache.New(sm, func(o *secretcache.Options) {
		o.OnEvent = func(ev secretcache.Event) {
			fmt.Println(ev.Kind, ev.SecretID, ev.Op, ev.Err)
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	for range 3 {
		if _, err := cache.GetSecretString(context.Background(), "prod/api-key"); err != nil {
			log.Fatal(err)
		}
	}
	// Output:
	// refresh_start prod/api-key  <nil>
	// fetch prod/api-key GetSecretValue <nil>
	// refresh_end prod/api-key  <nil>
}
