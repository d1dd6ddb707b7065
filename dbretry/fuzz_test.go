package dbretry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/dbretry"
	"github.com/rekeyhq/rekey/secretcache"
)

// pwMarker starts every password FuzzParseCredentials puts in a secret; no
// error, fmt verb or log record may contain it.
const pwMarker = "PWFUZZMARK"

// fuzzSecretClient serves one fixed SecretString. It is a fake because the
// target exercises parsing, not the API: a *secretcache.Secret can only be
// had from a Cache, and this is the cheapest Client behind one.
type fuzzSecretClient struct{ value string }

func (c fuzzSecretClient) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return &secretsmanager.GetSecretValueOutput{
		ARN:           aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:" + *in.SecretId + "-AbCdEf"),
		Name:          in.SecretId,
		VersionId:     aws.String("00000000-0000-4000-8000-0000000db022"),
		VersionStages: []string{"AWSCURRENT"},
		SecretString:  aws.String(c.value),
		CreatedDate:   aws.Time(time.Unix(1700000000, 0)),
	}, nil
}

func (fuzzSecretClient) DescribeSecret(context.Context, *secretsmanager.DescribeSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	return nil, errors.New("fuzzSecretClient: DescribeSecret not expected")
}

func (fuzzSecretClient) BatchGetSecretValue(context.Context, *secretsmanager.BatchGetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.BatchGetSecretValueOutput, error) {
	return nil, errors.New("fuzzSecretClient: BatchGetSecretValue not expected")
}

// FuzzParseCredentials parses arbitrary RDS secrets. The value is doc with
// each "@PW@" replaced by pwMarker+pw (JSON-escaped), so the fuzzer moves a
// known password around valid and broken JSON. Whatever the value: no
// panic; either an error starting "dbretry: " that does not contain the
// marker, or Credentials with non-empty Host, Username and Password and a
// Port in 0..65535 whose fmt output (every verb) and slog records (JSON
// and text) do not depend on the password.
func FuzzParseCredentials(f *testing.F) {
	// More seeds live in testdata/fuzz/FuzzParseCredentials.
	f.Add(`{"engine":"postgres","host":"db","port":5432,"username":"app","password":"@PW@","dbname":"app"}`, "s3cr3t")
	f.Add(`{"host":"db","port":"@PW@","username":"app","password":"x"}`, "5432")
	f.Add(`{"host":"db","username":"app"}`, "")
	f.Add(`{"host":"db","username":"app","password":"@PW@"`, "cut")
	f.Fuzz(func(t *testing.T, doc, pw string) {
		quoted, err := json.Marshal(pwMarker + pw)
		if err != nil {
			t.Fatal(err)
		}
		value := strings.ReplaceAll(doc, "@PW@", string(quoted[1:len(quoted)-1]))
		if len(value) > secretcache.MaxValueSize {
			return
		}
		c, err := secretcache.New(fuzzSecretClient{value: value})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := c.Get(context.Background(), "fuzz/db")
		if err != nil {
			t.Fatal(err)
		}

		creds, err := dbretry.ParseCredentials(s)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "dbretry: ") {
				t.Fatalf("error does not start with the package name: %s", msg)
			}
			if strings.Contains(value, pwMarker) && strings.Contains(msg, pwMarker) {
				t.Fatalf("error quotes the secret: %s", msg)
			}
			if creds != (dbretry.Credentials{}) {
				t.Fatalf("error with non-zero Credentials %#v", creds)
			}
			return
		}
		if creds.Host == "" || creds.Username == "" || creds.Password == "" {
			t.Fatalf("no error but a required field is empty: %#v", creds)
		}
		if creds.Port < 0 || creds.Port > 65535 {
			t.Fatalf("port %d out of range", creds.Port)
		}
		if creds.VersionID != s.VersionID() {
			t.Fatalf("VersionID %q, want %q", creds.VersionID, s.VersionID())
		}
		// Output must not depend on the password at all: compare with the
		// same credentials under a different password.
		other := creds
		other.Password = "a different password"
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3v"} {
			if got, want := fmt.Sprintf(verb, creds), fmt.Sprintf(verb, other); got != want {
				t.Fatalf("fmt %s depends on the password: %s", verb, got)
			}
			if got := fmt.Sprintf(verb, &creds); strings.Contains(got, creds.Password) && !strings.Contains(fmt.Sprintf(verb, &other), creds.Password) {
				t.Fatalf("fmt %s of *Credentials shows the password: %s", verb, got)
			}
		}
		logged := func(c dbretry.Credentials) string {
			var b bytes.Buffer
			noTime := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}}
			slog.New(slog.NewJSONHandler(&b, noTime)).Info("creds", "c", c)
			slog.New(slog.NewTextHandler(&b, noTime)).Info("creds", "c", c)
			return b.String()
		}
		if got, want := logged(creds), logged(other); got != want {
			t.Fatalf("slog output depends on the password: %s", got)
		}
	})
}
