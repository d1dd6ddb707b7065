package secretcache_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/secretcache"
	"github.com/rekeyhq/rekey/secretcache/secretcachetest"
)

// exampleClient starts an emulator holding one secret. Real code uses
// secretsmanager.NewFromConfig(cfg) with its own AWS config instead.
func exampleClient(name, value string) (*secretsmanager.Client, func()) {
	srv, err := secretcachetest.Start()
	if err != nil {
		log.Fatal(err)
	}
	sm := srv.Client()
	if _, err := sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(value),
	}); err != nil {
		log.Fatal(err)
	}
	return sm, func() { srv.Close() }
}

func Example() {
	sm, stop := exampleClient("prod/api-key", "k-123")
	defer stop()

	cache, err := secretcache.New(sm)
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	ctx := context.Background()
	for range 1000 {
		if _, err := cache.GetSecretString(ctx, "prod/api-key"); err != nil {
			log.Fatal(err)
		}
	}
	key, _ := cache.GetSecretString(ctx, "prod/api-key")
	st := cache.Stats()
	fmt.Println("key:", key)
	// The first read costs one GetSecretValue; the other 1000 cost nothing.
	fmt.Println("API calls for 1001 reads:", st.Calls.Total())
	// Output:
	// key: k-123
	// API calls for 1001 reads: 1
}

func ExampleGetJSON() {
	sm, stop := exampleClient("prod/db", `{"username":"app","password":"pw","port":5432}`)
	defer stop()
	cache, err := secretcache.New(sm)
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	type dbCreds struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Port     int    `json:"port"`
	}
	creds, err := secretcache.GetJSON[dbCreds](context.Background(), cache, "prod/db")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(creds.Username, creds.Port)
	// Output: app 5432
}

func ExampleCache_Refresh() {
	sm, stop := exampleClient("prod/token", "old")
	defer stop()
	moved := make(chan string, 16)
	cache, err := secretcache.New(sm, func(o *secretcache.Options) {
		o.MinRefreshInterval = -1 // let this example refresh right after the first read
		// OnChange runs on the cache's own goroutine; never block it.
		o.OnChange = func(id, _, _ string) {
			select {
			case moved <- id:
			default:
			}
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	ctx := context.Background()

	v, _ := cache.GetSecretString(ctx, "prod/token")
	fmt.Println("before:", v)

	// Someone rotates the secret; a database login fails; the caller
	// forces a refresh instead of waiting for the TTL.
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String("prod/token"), SecretString: aws.String("new"),
	}); err != nil {
		log.Fatal(err)
	}
	s, err := cache.Refresh(ctx, "prod/token")
	if err != nil {
		log.Fatal(err)
	}
	v, _ = s.Text()
	fmt.Println("after:", v)
	fmt.Println("AWSCURRENT of", <-moved, "moved")
	// Output:
	// before: old
	// after: new
	// AWSCURRENT of prod/token moved
}

func ExampleSecret_String() {
	sm, stop := exampleClient("prod/api-key", "k-123")
	defer stop()
	cache, err := secretcache.New(sm)
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	s, err := cache.Get(context.Background(), "prod/api-key")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %v\n", s.Name(), s.VersionStages())
	all := fmt.Sprintf("%v %+v %#v %s %q %x %+v", s, s, s, s, s, s, *s)
	fmt.Println("value printed:", strings.Contains(all, "k-123"))
	// Output:
	// prod/api-key [AWSCURRENT]
	// value printed: false
}
