// Command emulator serves rekey's Secrets Manager and KMS emulator
// (package secretcache/secretcachetest) on a fixed address until SIGINT or
// SIGTERM, for tests not written in Go: point the AWS CLI, boto3 or the
// JavaScript SDK at it with --endpoint-url (endpoint_url, endpoint) and any
// credentials.
//
//	go run ./examples/emulator -addr 127.0.0.1:4566
//	AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test aws --region us-east-1 \
//	    --endpoint-url http://127.0.0.1:4566 secretsmanager list-secrets
//
// -seed FILE creates the secrets of a JSON object at start: each name maps
// to a string (the SecretString) or to any other JSON value (stored as its
// JSON text). With -enforce-iam, requests are authorized as AWS does; the
// access key id "test" is the account's root user, and each
// -principal KEY=ARN[,POLICYFILE...] adds a caller with its identity
// policies. State lives in memory and ends with the process.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/secretcache/secretcachetest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, nil); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0) // the usage was printed, as asked
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// rootAccessKeyID is the access key id that acts as the account's root user
// under -enforce-iam, so that dummy CLI credentials keep working.
const rootAccessKeyID = "test"

// principals collects repeated -principal KEY=ARN[,POLICYFILE...] flags.
type principals []string

func (p *principals) String() string     { return strings.Join(*p, " ") }
func (p *principals) Set(v string) error { *p = append(*p, v); return nil }

// shutdownWait bounds how long a signal waits for requests in flight.
const shutdownWait = 5 * time.Second

// run serves until ctx ends, then shuts down gracefully: the listener
// closes, requests in flight get shutdownWait to finish, and the emulator
// closes. ready, when not nil, is called with the listening address once
// requests are accepted.
func run(ctx context.Context, args []string, stdout io.Writer, ready func(addr string)) error {
	fs := flag.NewFlagSet("emulator", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:4566", "TCP `address` to listen on (port 0: any free port)")
	region := fs.String("region", secretcachetest.DefaultRegion, "emulated `Region`")
	account := fs.String("account", secretcachetest.DefaultAccountID, "emulated 12-digit `account` id owning every secret and key")
	enforce := fs.Bool("enforce-iam", false, `authorize requests as AWS does; access key id "test" is the account's root user`)
	seed := fs.String("seed", "", "JSON `file` of secrets to create at start: {\"name\": \"value\" or any JSON value}")
	var prins principals
	fs.Var(&prins, "principal", "with -enforce-iam, `KEY=ARN[,POLICYFILE...]`: requests signed with access key id KEY act as ARN with those identity policies (repeatable)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("emulator: %w", err) // the flag package printed the usage
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("emulator: unexpected arguments %q", fs.Args())
	}

	srv, err := secretcachetest.Start(func(o *secretcachetest.Options) {
		o.Region, o.AccountID, o.EnforceIAM = *region, *account, *enforce
	})
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	defer srv.Close()
	if err := srv.AddPrincipal(rootAccessKeyID, "arn:aws:iam::"+srv.AccountID()+":root"); err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	for _, p := range prins {
		if err := addPrincipal(srv, p); err != nil {
			return err
		}
	}
	names, err := seedSecrets(ctx, srv, *seed)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	url := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "Secrets Manager and KMS on %s (Region %s, account %s, IAM enforced: %t)\n", url, srv.Region(), srv.AccountID(), *enforce)
	if len(names) > 0 {
		fmt.Fprintf(stdout, "seeded %d secrets: %s\n", len(names), strings.Join(names, ", "))
	}
	fmt.Fprintf(stdout, "try:\n  AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=test aws --region %s --endpoint-url %s secretsmanager list-secrets\n", rootAccessKeyID, srv.Region(), url)
	fmt.Fprintln(stdout, "Ctrl-C stops it.")
	if ready != nil {
		ready(ln.Addr().String())
	}

	select {
	case err := <-served:
		return fmt.Errorf("emulator: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	err = hs.Shutdown(sctx)
	<-served // http.ErrServerClosed once Shutdown has begun
	if cerr := srv.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("emulator: shutdown: %w", err)
	}
	fmt.Fprintln(stdout, "stopped")
	return nil
}

// addPrincipal applies one -principal KEY=ARN[,POLICYFILE...] flag.
func addPrincipal(srv *secretcachetest.Server, flagValue string) error {
	key, rest, ok := strings.Cut(flagValue, "=")
	if !ok || rest == "" {
		return fmt.Errorf("emulator: -principal %q: want KEY=ARN[,POLICYFILE...]", flagValue)
	}
	fields := strings.Split(rest, ",")
	var docs []string
	for _, file := range fields[1:] {
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("emulator: -principal %s: %w", key, err)
		}
		docs = append(docs, string(b))
	}
	if err := srv.AddPrincipal(key, fields[0], docs...); err != nil {
		return fmt.Errorf("emulator: -principal: %w", err)
	}
	return nil
}

// seedSecrets creates the secrets of the JSON object in file, in name
// order, and returns their names. An empty file name seeds nothing.
func seedSecrets(ctx context.Context, srv *secretcachetest.Server, file string) ([]string, error) {
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("emulator: -seed: %w", err)
	}
	var secrets map[string]json.RawMessage
	if err := json.Unmarshal(b, &secrets); err != nil {
		return nil, fmt.Errorf("emulator: -seed %s: want a JSON object of secret names: %w", file, err)
	}
	names := make([]string, 0, len(secrets))
	for name := range secrets {
		names = append(names, name)
	}
	sort.Strings(names)
	sm := srv.Client()
	for _, name := range names {
		raw := secrets[name]
		var value string
		if json.Unmarshal(raw, &value) != nil {
			value = string(raw) // an object or other value: its JSON text
		}
		if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)}); err != nil {
			// The SDK's error names the secret and the service's reason,
			// never the value.
			return nil, fmt.Errorf("emulator: -seed %s: %w", file, err)
		}
	}
	return names, nil
}
