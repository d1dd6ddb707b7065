package secretcache_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/secretcache"
)

// fuzzMarker is put into secret values by FuzzGetJSON; no error message or
// fmt output may ever contain it.
const fuzzMarker = "ZQXFUZZMARK"

// fuzzClient serves one fixed SecretString. It is a fake because the fuzz
// target exercises decoding, not the API: one value per input, thousands
// of inputs a second.
type fuzzClient struct{ value string }

func (c fuzzClient) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return &secretsmanager.GetSecretValueOutput{
		ARN:           aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:" + *in.SecretId + "-AbCdEf"),
		Name:          in.SecretId,
		VersionId:     aws.String("00000000-0000-4000-8000-00000000f022"),
		VersionStages: []string{"AWSCURRENT"},
		SecretString:  aws.String(c.value),
		CreatedDate:   aws.Time(time.Unix(1700000000, 0)),
	}, nil
}

func (fuzzClient) DescribeSecret(context.Context, *secretsmanager.DescribeSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	return nil, errors.New("fuzzClient: DescribeSecret not expected")
}

func (fuzzClient) BatchGetSecretValue(context.Context, *secretsmanager.BatchGetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.BatchGetSecretValueOutput, error) {
	return nil, errors.New("fuzzClient: BatchGetSecretValue not expected")
}

// fuzzLeaky has an UnmarshalJSON whose error quotes its input, as careless
// custom decoders (and time.Time) do; the cache must not pass it on.
type fuzzLeaky struct{}

func (*fuzzLeaky) UnmarshalJSON(b []byte) error {
	return fmt.Errorf("fuzzLeaky: cannot use %s", b)
}

// fuzzTarget is a struct target with the shapes secrets usually have.
type fuzzTarget struct {
	Username string            `json:"username"`
	Password string            `json:"password"`
	Port     int               `json:"port"`
	Small    int8              `json:"small"`
	Hosts    []string          `json:"hosts"`
	Limits   map[string]uint16 `json:"limits"`
	Nested   *struct {
		On   bool      `json:"on"`
		When time.Time `json:"when"`
	} `json:"nested"`
	Leaky fuzzLeaky `json:"leaky"`
}

// fuzzVocabulary is every text a GetJSON error may legitimately contain
// besides numbers: the secret id, the package's wording and the Go types.
// Digits are masked to 0 before comparing.
var fuzzVocabulary = maskDigits(strings.Join([]string{
	"secretcache: secret \"fuzz/json\": ", secretcache.ErrInvalidJSON.Error(),
	": syntax error at byte offset 0", ": field (top level) cannot be decoded into Go type ",
	"cannot decode JSON into", "(need a non-nil pointer)", "decoding into", "failed with a", "error",
	fmt.Sprint(fuzzTarget{}), "map[string]interface {}", "[]int", "string", "int", "bool",
	"*secretcache_test.fuzzTarget", "*map[string]interface {}", "*[]int", "*string", "*fmt.wrapError", "*time.ParseError",
	"*errors.errorString", "*fmt.wrapErrors", "*json.UnsupportedValueError",
	"username password port small hosts limits nested on when leaky uint16 int8 time.Time secretcache_test.fuzzLeaky",
}, " "))

func maskDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return '0'
		}
		return r
	}, s)
}

// FuzzGetJSON decodes arbitrary secret values into several Go types.
// The value is doc with each "@V@" replaced by fuzzMarker+secret (JSON-
// escaped), so the fuzzer can move a known secret into keys, values and
// broken syntax. Whatever the value: no panic; a failure wraps
// ErrInvalidJSON and contains neither the marker nor (for values of 16
// bytes or more) the whole value; Text returns the value unchanged; fmt of
// the Secret never shows the marker.
func FuzzGetJSON(f *testing.F) {
	f.Add(`{"username":"app","password":"@V@","port":5432}`, "hunter2")
	f.Add(`{"@V@":1}`, "k")
	f.Add(`"@V@"`, "x")
	f.Add(`{"port":"@V@"}`, "5432")
	f.Add(`{"small":300,"password":"@V@"}`, "p")
	f.Add(`{"nested":{"when":"@V@"}}`, "2025-13-01")
	f.Add(`{"leaky":"@V@"}`, "oops")
	f.Add(`{"limits":{"@V@":70000}}`, "a")
	f.Add(`{"password":"@V@"`, "unterminated")
	f.Add(`@V@`, "not json at all")
	f.Fuzz(func(t *testing.T, doc, secret string) {
		quoted, err := json.Marshal(fuzzMarker + secret)
		if err != nil {
			t.Fatal(err)
		}
		value := strings.ReplaceAll(doc, "@V@", string(quoted[1:len(quoted)-1]))
		if len(value) > secretcache.MaxValueSize {
			return
		}
		c, err := secretcache.New(fuzzClient{value: value})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx := context.Background()
		const id = "fuzz/json"

		check := func(target string, err error) {
			t.Helper()
			if err == nil {
				return
			}
			if !errors.Is(err, secretcache.ErrInvalidJSON) {
				t.Fatalf("GetJSON[%s]: error does not wrap ErrInvalidJSON: %v", target, err)
			}
			msg := err.Error()
			if strings.Contains(value, fuzzMarker) && strings.Contains(msg, fuzzMarker) {
				t.Fatalf("GetJSON[%s]: error quotes the secret value: %s", target, msg)
			}
			if len(value) >= 16 && strings.Contains(msg, value) && !strings.Contains(fuzzVocabulary, maskDigits(value)) {
				t.Fatalf("GetJSON[%s]: error contains the whole value: %s", target, msg)
			}
		}
		_, err = secretcache.GetJSON[map[string]any](ctx, c, id)
		check("map[string]any", err)
		_, err = secretcache.GetJSON[fuzzTarget](ctx, c, id)
		check("fuzzTarget", err)
		_, err = secretcache.GetJSON[[]int](ctx, c, id)
		check("[]int", err)
		_, err = secretcache.GetJSON[string](ctx, c, id)
		check("string", err)
		_, err = secretcache.GetJSON[fuzzLeaky](ctx, c, id)
		check("fuzzLeaky", err)

		got, err := c.GetSecretString(ctx, id)
		if err != nil || got != value {
			t.Fatalf("GetSecretString = %d bytes, %v; want the %d-byte value", len(got), err, len(value))
		}
		s, err := c.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
			if out := fmt.Sprintf(verb, s); strings.Contains(out, fuzzMarker) || strings.Contains(maskHex(out), "5a5158") {
				t.Fatalf("fmt %s of a Secret shows the value: %s", verb, out)
			}
		}
	})
}

// maskHex lowercases s so that a hex dump of the marker ("ZQX" is 5a5158)
// is found whatever the case.
func maskHex(s string) string { return strings.ToLower(s) }
