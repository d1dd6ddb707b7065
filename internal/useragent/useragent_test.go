package useragent_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey"
	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/policy"
	"github.com/rekeyhq/rekey/rotation"
	"github.com/rekeyhq/rekey/secretcache"
)

// recorder sits in front of the emulator and keeps the operation and
// User-Agent header of every request it forwards.
type recorder struct {
	mu   sync.Mutex
	seen []request
}

type request struct{ op, userAgent string }

func (r *recorder) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.seen...)
}

// newProxy starts the emulator, seeds it through a direct client, and
// returns an aws.Config whose requests pass through a recorder first.
func newProxy(t *testing.T) (*awsemu.Server, aws.Config, *recorder) {
	t.Helper()
	srv := awsemu.New(t)
	rec := &recorder{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		target := req.Header.Get("X-Amz-Target")
		rec.mu.Lock()
		rec.seen = append(rec.seen, request{op: target[strings.LastIndex(target, ".")+1:], userAgent: req.Header.Get("User-Agent")})
		rec.mu.Unlock()
		srv.ServeHTTP(w, req)
	}))
	t.Cleanup(ts.Close)
	cfg := srv.AWSConfig()
	cfg.BaseEndpoint = aws.String(ts.URL)
	cfg.RetryMaxAttempts = 1
	return srv, cfg, rec
}

// wantToken checks that rec saw every operation in ops, and that every
// request it saw carried "rekey/<Version>".
func wantToken(t *testing.T, rec *recorder, ops ...string) {
	t.Helper()
	token := "rekey/" + rekey.Version
	got := map[string]bool{}
	for _, r := range rec.requests() {
		got[r.op] = true
		if !strings.Contains(r.userAgent, token) {
			t.Errorf("%s: User-Agent %q lacks %q", r.op, r.userAgent, token)
		}
	}
	for _, op := range ops {
		if !got[op] {
			t.Errorf("no %s request seen (saw %v)", op, got)
		}
	}
}

func TestCacheCallsCarryUserAgent(t *testing.T) {
	srv, cfg, rec := newProxy(t)
	direct := secretsmanager.NewFromConfig(srv.AWSConfig())
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if _, err := direct.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(id), SecretString: aws.String("v")}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := secretcache.New(secretsmanager.NewFromConfig(cfg), func(o *secretcache.Options) { o.MinRefreshInterval = -1 })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Get(ctx, "a"); err != nil { // GetSecretValue
		t.Fatal(err)
	}
	if _, err := c.Refresh(ctx, "a"); err != nil { // DescribeSecret
		t.Fatal(err)
	}
	if err := c.Prefetch(ctx, "b"); err != nil { // BatchGetSecretValue
		t.Fatal(err)
	}
	wantToken(t, rec, "GetSecretValue", "DescribeSecret", "BatchGetSecretValue")
}

func TestGatherCallsCarryUserAgent(t *testing.T) {
	srv, cfg, rec := newProxy(t)
	ctx := context.Background()
	if _, err := secretsmanager.NewFromConfig(srv.AWSConfig()).CreateSecret(ctx,
		&secretsmanager.CreateSecretInput{Name: aws.String("a"), SecretString: aws.String("v")}); err != nil {
		t.Fatal(err)
	}
	if _, err := policy.Gather(ctx, secretsmanager.NewFromConfig(cfg), kms.NewFromConfig(cfg), "a"); err != nil {
		t.Fatal(err)
	}
	wantToken(t, rec, "DescribeSecret", "GetResourcePolicy", "DescribeKey", "GetKeyPolicy")
}

// staticStrategy rotates a secret whose value is only the password.
type staticStrategy struct{}

func (staticStrategy) NewPending(_ context.Context, _ rotation.Secret, pw string) ([]byte, error) {
	return []byte(pw), nil
}
func (staticStrategy) Apply(context.Context, rotation.Versions) error { return nil }
func (staticStrategy) Verify(context.Context, rotation.Secret) error  { return nil }

func TestRotatorCallsCarryUserAgent(t *testing.T) {
	srv, cfg, rec := newProxy(t)
	ctx := context.Background()
	if _, err := secretsmanager.NewFromConfig(srv.AWSConfig()).CreateSecret(ctx,
		&secretsmanager.CreateSecretInput{Name: aws.String("a"), SecretString: aws.String("v")}); err != nil {
		t.Fatal(err)
	}
	r, err := rotation.New(secretsmanager.NewFromConfig(cfg), staticStrategy{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Rotate(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	wantToken(t, rec, "DescribeSecret", "GetRandomPassword", "PutSecretValue", "GetSecretValue", "UpdateSecretVersionStage")
}

// The official clients' own User-Agent must stay: the token is appended.
func TestUserAgentKeepsSDKToken(t *testing.T) {
	srv, cfg, rec := newProxy(t)
	if _, err := secretsmanager.NewFromConfig(srv.AWSConfig()).CreateSecret(context.Background(),
		&secretsmanager.CreateSecretInput{Name: aws.String("a"), SecretString: aws.String("v")}); err != nil {
		t.Fatal(err)
	}
	c, err := secretcache.New(secretsmanager.NewFromConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Get(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	for _, r := range rec.requests() {
		if !strings.Contains(r.userAgent, "aws-sdk-go-v2/") {
			t.Errorf("%s: User-Agent %q lost the SDK's token", r.op, r.userAgent)
		}
	}
}
