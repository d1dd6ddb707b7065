package secretcachetest_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/secretcache"
	"github.com/rekeyhq/rekey/secretcache/secretcachetest"
)

// TestAPIKeyRotation is the example of README.md's "Testing your code",
// verbatim (TestREADMEShowsThisFile checks it).
func TestAPIKeyRotation(t *testing.T) {
	ctx := context.Background()
	srv := secretcachetest.NewServer(t) // in-process Secrets Manager, closed by t.Cleanup
	sm := srv.Client(func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	sec, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("prod/api-key"), SecretString: aws.String("v1")})
	if err != nil {
		t.Fatal(err)
	}
	cache, _ := secretcache.New(sm, func(o *secretcache.Options) { o.MinRefreshInterval = -1 })
	defer cache.Close()
	v1, _ := cache.GetSecretString(ctx, "prod/api-key")

	// Rotate: a new AWSCURRENT version; Refresh picks it up.
	sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: sec.ARN, SecretString: aws.String("v2")})
	cache.Refresh(ctx, "prod/api-key")
	v2, _ := cache.GetSecretString(ctx, "prod/api-key")

	// Throttle every call: the refresh fails, reads keep getting v2.
	srv.InjectFault(secretcachetest.Fault{Code: "ThrottlingException"})
	_, throttled := cache.Refresh(ctx, "prod/api-key")
	stale, _ := cache.GetSecretString(ctx, "prod/api-key")
	if v1 != "v1" || v2 != "v2" || throttled == nil || stale != "v2" || srv.Calls("GetSecretValue") != 2 {
		t.Fatalf("got %s, %s, %v, %s after %d GetSecretValue", v1, v2, throttled, stale, srv.Calls("GetSecretValue"))
	}
}

// TestREADMEShowsThisFile keeps README.md's "Testing your code" example the
// code TestAPIKeyRotation runs.
func TestREADMEShowsThisFile(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("readme_test.go")
	if err != nil {
		t.Fatal(err)
	}
	fn := regexp.MustCompile(`(?s)\nfunc TestAPIKeyRotation\(.*?\n}\n`).Find(src)
	if fn == nil {
		t.Fatal("readme_test.go: TestAPIKeyRotation not found")
	}
	if !strings.Contains(string(readme), string(fn)) {
		t.Errorf("README.md does not show TestAPIKeyRotation as readme_test.go has it:\n%s", fn)
	}
}
