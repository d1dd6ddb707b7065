// Command quickstart shows secretcache at work against an in-process
// Secrets Manager emulator: how many API calls caching saves, a rotation
// being picked up without any Refresh call, and the cache's statistics.
// It needs no AWS account. It runs on real time in about two seconds: the
// cache's TTL and RotationPollInterval are set to seconds and fractions of
// one (the defaults are 5m and 5s) so that the demo need not wait minutes.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/rotation"
	"github.com/rekeyhq/rekey/secretcache"
	"github.com/rekeyhq/rekey/secretcache/secretcachetest"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

const (
	secretID  = "quickstart/db"
	reads     = 10_000
	rotatorFn = "arn:aws:lambda:us-east-1:123456789012:function:quickstart-rotator"
	// ttl and pollInterval are the cache's TTL and RotationPollInterval,
	// short for the demo; real code keeps the defaults (5m and 5s). ttl
	// leaves the 10,000 reads of step 1 time to finish within it even
	// under the race detector on a loaded machine.
	ttl          = 1500 * time.Millisecond
	pollInterval = 200 * time.Millisecond
)

// past returns a wait certain to outlast d spread by the cache's default
// Jitter (±10 %), counted from any moment after the deadline was set.
func past(d time.Duration) time.Duration { return d + d/10 + 20*time.Millisecond }

type dbCreds struct {
	Engine   string `json:"engine"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Username string `json:"username"`
	Password string `json:"password"`
}

func run(ctx context.Context, out io.Writer) error {
	srv, err := secretcachetest.Start()
	if err != nil {
		return err
	}
	defer srv.Close()
	// With real AWS: cfg, _ := config.LoadDefaultConfig(ctx); secretsmanager.NewFromConfig(cfg)
	sm := srv.Client()

	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String(secretID),
		SecretString: aws.String(`{"engine":"postgres","host":"db.internal","port":5432,"username":"app","password":"first-password"}`),
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Created secret %s (version %s)\n\n", secretID, short(aws.ToString(created.VersionId)))

	changed := make(chan string, 8)
	cache, err := secretcache.New(sm, func(o *secretcache.Options) {
		o.TTL = ttl
		o.RotationPollInterval = pollInterval
		// OnChange runs on the cache's own goroutine: never block it.
		o.OnChange = func(id, oldVersion, newVersion string) {
			select {
			case changed <- fmt.Sprintf("OnChange(%s): AWSCURRENT moved %s -> %s", id, short(oldVersion), short(newVersion)):
			default:
			}
		}
	})
	if err != nil {
		return err
	}
	defer cache.Close()
	readCount := 0
	read := func() (dbCreds, error) {
		readCount++
		return secretcache.GetJSON[dbCreds](ctx, cache, secretID)
	}

	// 1. Caching.
	var creds dbCreds
	for range reads {
		if creds, err = read(); err != nil {
			return err
		}
	}
	calls := cache.Stats().Calls
	fmt.Fprintf(out, "1. Caching\n")
	fmt.Fprintf(out, "   read %s %d times as %s@%s:%d\n", secretID, reads, creds.Username, creds.Host, creds.Port)
	fmt.Fprintf(out, "   API calls with the cache:    %d (GetSecretValue %d, DescribeSecret %d)\n",
		calls.Total(), calls.GetSecretValue, calls.DescribeSecret)
	fmt.Fprintf(out, "   API calls without a cache:   %d\n\n", reads)

	// 2. Rotation, run by package rotation as the rotation Lambda function;
	// the emulator invokes it for each of the four steps.
	rot, err := rotation.New(sm, passwordStrategy{})
	if err != nil {
		return err
	}
	var steps []string
	var rotationErr error
	srv.RegisterRotationFunc(rotatorFn, func(ctx context.Context, step, id, token string) error {
		err := rot.Handle(ctx, rotation.Event{Step: rotation.Step(step), SecretID: id, ClientRequestToken: token})
		steps = append(steps, step)
		if err == nil && step == string(rotation.CreateSecret) {
			// The application's TTL (±10 % jitter) ends while the
			// rotation runs: its background refresh sees AWSPENDING on
			// the new version.
			time.Sleep(past(ttl))
			rotationErr = readDuringRotation(out, cache, read, token)
		}
		return err
	})
	fmt.Fprintf(out, "2. Rotation (no Refresh call anywhere)\n")
	if _, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId: aws.String(secretID), RotationLambdaARN: aws.String(rotatorFn),
	}); err != nil {
		return err
	}
	if rotationErr != nil {
		return rotationErr
	}
	fmt.Fprintf(out, "   RotateSecret ran %v\n", steps)
	finished := cache.Stats().Calls.Total()

	// The mid-rotation refresh set the next check pollInterval after it.
	time.Sleep(past(pollInterval))
	if _, err := read(); err != nil { // due: serves the old value, refreshes in the background
		return err
	}
	select {
	case msg := <-changed:
		fmt.Fprintf(out, "   +%v after the rotation finished (RotationPollInterval %v): %s\n", past(pollInterval), pollInterval, msg)
	case <-time.After(2 * time.Second):
		return errors.New("the rotation was not picked up")
	}
	rotated, err := read()
	if err != nil {
		return err
	}
	s, err := cache.Get(ctx, secretID)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "   now serving version %s %v (finishSecret removed AWSPENDING), picked up with %d API calls; password changed: %t\n",
		short(s.VersionID()), s.VersionStages(), cache.Stats().Calls.Total()-finished, rotated.Password != creds.Password)
	fmt.Fprintf(out, "   (without a rotation in progress the next check would have come after TTL, %v; defaults: TTL %v, RotationPollInterval %v)\n",
		ttl, secretcache.DefaultTTL, secretcache.DefaultRotationPollInterval)
	fmt.Fprintf(out, "   printing the secret shows no value: %v\n\n", s)
	readCount++

	// 3. Stats.
	st := cache.Stats()
	fmt.Fprintf(out, "3. Stats\n")
	fmt.Fprintf(out, "   hits %d, misses %d, stale hits %d, refreshes %d, errors %d, evictions %d, entries %d\n",
		st.Hits, st.Misses, st.StaleHits, st.Refreshes, st.Errors, st.Evictions, st.Entries)
	fmt.Fprintf(out, "   API calls: GetSecretValue %d, DescribeSecret %d, BatchGetSecretValue %d; %d in all for %d reads\n",
		st.Calls.GetSecretValue, st.Calls.DescribeSecret, st.Calls.BatchGetSecretValue, st.Calls.Total(), readCount)
	return nil
}

// readDuringRotation reads once past TTL, while the rotation's AWSPENDING
// version exists, and waits for the background refresh that read starts.
func readDuringRotation(out io.Writer, cache *secretcache.Cache, read func() (dbCreds, error), pending string) error {
	before := cache.Stats().Refreshes
	if _, err := read(); err != nil {
		return err
	}
	for deadline := time.Now().Add(2 * time.Second); cache.Stats().Refreshes == before; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			return errors.New("no refresh during the rotation")
		}
	}
	s, err := read()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "   +%v, mid-rotation: TTL (%v) over, still serving the first password (%t); AWSPENDING is on %s, so the cache re-checks every %v\n",
		past(ttl), ttl, s.Password == "first-password", short(pending), pollInterval)
	return nil
}

// passwordStrategy rotates the password of an application's secret. A
// real strategy for a database also sets the password there (see package
// rotation/postgres); this one only stores it.
type passwordStrategy struct{}

func (passwordStrategy) NewPending(_ context.Context, current rotation.Secret, password string) ([]byte, error) {
	var creds dbCreds
	if err := json.Unmarshal(current.Value(), &creds); err != nil {
		return nil, errors.New("current version is not a JSON credentials document")
	}
	creds.Password = password
	return json.Marshal(creds)
}

func (passwordStrategy) Apply(context.Context, rotation.Versions) error { return nil }

func (passwordStrategy) Verify(_ context.Context, pending rotation.Secret) error {
	var creds dbCreds
	if err := json.Unmarshal(pending.Value(), &creds); err != nil || creds.Password == "" {
		return errors.New("pending version has no password")
	}
	return nil
}

// short abbreviates a version id for display.
func short(versionID string) string {
	if len(versionID) > 8 {
		return versionID[:8] + "…"
	}
	return versionID
}
