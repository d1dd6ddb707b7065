// Command quickstart shows secretcache at work against an in-process
// Secrets Manager emulator: how many API calls caching saves, a rotation
// being picked up, and the cache's statistics. It needs no AWS account.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/secretcache"
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
)

type dbCreds struct {
	Engine   string `json:"engine"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Username string `json:"username"`
	Password string `json:"password"`
}

func run(ctx context.Context, out io.Writer) error {
	srv, err := awsemu.Start()
	if err != nil {
		return err
	}
	defer srv.Close()
	// With real AWS: cfg, _ := config.LoadDefaultConfig(ctx); secretsmanager.NewFromConfig(cfg)
	sm := secretsmanager.NewFromConfig(srv.AWSConfig())

	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String(secretID),
		SecretString: aws.String(`{"engine":"postgres","host":"db.internal","port":5432,"username":"app","password":"first-password"}`),
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Created secret %s (version %s)\n\n", secretID, short(aws.ToString(created.VersionId)))

	changed := make(chan string, 1)
	cache, err := secretcache.New(sm, func(o *secretcache.Options) {
		o.OnChange = func(id, oldVersion, newVersion string) {
			changed <- fmt.Sprintf("OnChange(%s): AWSCURRENT moved %s -> %s", id, short(oldVersion), short(newVersion))
		}
		// Let the demo force a refresh right after its first read; the
		// default (1s) bounds a storm of forced refreshes.
		o.MinRefreshInterval = -1
	})
	if err != nil {
		return err
	}
	defer cache.Close()

	// 1. Caching.
	var creds dbCreds
	for range reads {
		if creds, err = secretcache.GetJSON[dbCreds](ctx, cache, secretID); err != nil {
			return err
		}
	}
	calls := cache.Stats().Calls
	fmt.Fprintf(out, "1. Caching\n")
	fmt.Fprintf(out, "   read %s %d times as %s@%s:%d\n", secretID, reads, creds.Username, creds.Host, creds.Port)
	fmt.Fprintf(out, "   API calls with the cache:    %d\n", calls.Total())
	fmt.Fprintf(out, "   API calls without a cache:   %d\n", reads)
	fmt.Fprintf(out, "   emulator saw GetSecretValue: %d\n\n", srv.Calls("GetSecretValue"))

	// 2. Rotation: the emulator runs the rotation function's four steps.
	var steps []string
	srv.RegisterRotationFunc(rotatorFn, func(ctx context.Context, step, id, token string) error {
		steps = append(steps, step)
		return rotate(ctx, sm, step, id, token)
	})
	if _, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId: aws.String(secretID), RotationLambdaARN: aws.String(rotatorFn),
	}); err != nil {
		return err
	}
	fmt.Fprintf(out, "2. Rotation\n")
	fmt.Fprintf(out, "   RotateSecret ran %v\n", steps)
	// A login with the old password would now fail; dbretry reacts with a
	// forced, deduplicated Refresh: one DescribeSecret and one
	// GetSecretValue for the new version.
	before := cache.Stats().Calls.Total()
	s, err := cache.Refresh(ctx, secretID)
	if err != nil {
		return err
	}
	select {
	case msg := <-changed:
		fmt.Fprintf(out, "   %s\n", msg)
	default:
		return fmt.Errorf("OnChange was not called")
	}
	var rotated dbCreds
	if err := s.Unmarshal(&rotated); err != nil {
		return err
	}
	fmt.Fprintf(out, "   new version %s %v picked up with %d API calls; password changed: %t\n",
		short(s.VersionID()), s.VersionStages(), cache.Stats().Calls.Total()-before, rotated.Password != creds.Password)
	fmt.Fprintf(out, "   printing the secret shows no value: %v\n", s)
	fmt.Fprintf(out, "   (without Refresh: seen at the next refresh, after TTL (5m), or within 5s while DescribeSecret shows a rotation in progress)\n\n")

	// 3. Stats.
	st := cache.Stats()
	fmt.Fprintf(out, "3. Stats\n")
	fmt.Fprintf(out, "   hits %d, misses %d, stale hits %d, refreshes %d, errors %d, evictions %d, entries %d\n",
		st.Hits, st.Misses, st.StaleHits, st.Refreshes, st.Errors, st.Evictions, st.Entries)
	fmt.Fprintf(out, "   API calls: GetSecretValue %d, DescribeSecret %d, BatchGetSecretValue %d (total %d for %d reads)\n",
		st.Calls.GetSecretValue, st.Calls.DescribeSecret, st.Calls.BatchGetSecretValue, st.Calls.Total(), reads+1)
	return nil
}

// rotate is a minimal rotation function: it stores a new password as the
// AWSPENDING version, then moves AWSCURRENT to it. A real one also sets
// the password in the database (see package rotation).
func rotate(ctx context.Context, sm *secretsmanager.Client, step, id, token string) error {
	switch step {
	case "createSecret":
		_, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId: aws.String(id), ClientRequestToken: aws.String(token), VersionStages: []string{"AWSPENDING"},
			SecretString: aws.String(`{"engine":"postgres","host":"db.internal","port":5432,"username":"app","password":"second-password"}`),
		})
		return err
	case "finishSecret":
		d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
		if err != nil {
			return err
		}
		for version, stages := range d.VersionIdsToStages {
			if version != token && slices.Contains(stages, "AWSCURRENT") {
				_, err = sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
					SecretId: aws.String(id), VersionStage: aws.String("AWSCURRENT"),
					MoveToVersionId: aws.String(token), RemoveFromVersionId: aws.String(version),
				})
				return err
			}
		}
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
