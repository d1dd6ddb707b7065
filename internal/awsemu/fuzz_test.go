package awsemu

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// fuzzOps are the operations FuzzRequest sends bodies to; the fuzzer picks
// one by index so that mutations of the body, not of the name, dominate.
var fuzzOps = []string{
	"secretsmanager.CreateSecret",
	"secretsmanager.GetSecretValue",
	"secretsmanager.BatchGetSecretValue",
	"secretsmanager.DescribeSecret",
	"secretsmanager.PutSecretValue",
	"secretsmanager.UpdateSecret",
	"secretsmanager.UpdateSecretVersionStage",
	"secretsmanager.ListSecretVersionIds",
	"secretsmanager.ListSecrets",
	"secretsmanager.DeleteSecret",
	"secretsmanager.RestoreSecret",
	"secretsmanager.RotateSecret",
	"secretsmanager.CancelRotateSecret",
	"secretsmanager.GetRandomPassword",
	"secretsmanager.GetResourcePolicy",
	"secretsmanager.PutResourcePolicy",
	"secretsmanager.ValidateResourcePolicy",
	"secretsmanager.TagResource",
	"secretsmanager.UntagResource",
	"TrentService.CreateKey",
	"TrentService.DescribeKey",
	"TrentService.GetKeyPolicy",
	"TrentService.PutKeyPolicy",
	"TrentService.CreateAlias",
	"TrentService.Encrypt",
	"TrentService.Decrypt",
	"TrentService.GenerateDataKey",
	"TrentService.ScheduleKeyDeletion",
	// Appended so that the indices of the corpus entries above hold.
	"secretsmanager.ReplicateSecretToRegions",
	"secretsmanager.RemoveRegionsFromReplication",
	"secretsmanager.StopReplicationToReplica",
}

// fuzzLambdaARN is a rotation function registered on every fuzz server, so
// RotateSecret bodies can reach the rotation path.
const fuzzLambdaARN = "arn:aws:lambda:us-east-1:123456789012:function:fuzz"

// newFuzzServer builds a Server as Start does but without a listener:
// FuzzRequest calls ServeHTTP directly, and a fresh server per input keeps
// every input independent of the ones before it.
func newFuzzServer(tb testing.TB) *Server {
	tb.Helper()
	fixed := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	s := &Server{
		URL:       "http://awsemu.fuzz.invalid",
		region:    DefaultRegion,
		accountID: DefaultAccountID,
		calls:     make(map[string]*atomic.Int64),
		rng:       rand.New(rand.NewPCG(1, 2)),
		rotations: make(map[string]RotationFunc),
	}
	now := func() time.Time { return fixed }
	s.clock.Store(&now)
	s.kms = newKeyService(s)
	s.sm = newSecretsManager(s)
	s.RegisterRotationFunc(fuzzLambdaARN, func(context.Context, string, string, string) error { return nil })
	for _, req := range []struct{ target, body string }{
		{"secretsmanager.CreateSecret", `{"Name":"s","SecretString":"v1","ClientRequestToken":"00000000-0000-4000-8000-000000000001"}`},
		{"secretsmanager.PutSecretValue", `{"SecretId":"s","SecretString":"v2","ClientRequestToken":"00000000-0000-4000-8000-000000000002"}`},
		{"secretsmanager.CreateSecret", `{"Name":"b","SecretBinary":"AAEC"}`},
		{"secretsmanager.CreateSecret", `{"Name":"r","SecretString":"v","AddReplicaRegions":[{"Region":"us-west-2"}]}`},
	} {
		if rec := serveFuzz(s, req.target, []byte(req.body)); rec.Code != http.StatusOK {
			tb.Fatalf("seeding %s: %d %s", req.target, rec.Code, rec.Body)
		}
	}
	return s
}

func serveFuzz(s *Server, target string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("X-Amz-Target", target)
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, r)
	return rec
}

// FuzzRequest sends arbitrary bodies to the request decoder of each
// operation. Whatever the body, the server must not panic, must answer
// with a JSON object, must never answer 5xx (a 500 means an input reached
// a code path that did not expect it), must answer a body that is not JSON
// with a 400, must answer within 2s (no input may make it loop), and must
// keep serving afterwards.
func FuzzRequest(f *testing.F) {
	// Seeds live in testdata/fuzz/FuzzRequest; these few cover every op
	// with an empty and a minimal body.
	for i := range fuzzOps {
		f.Add(uint8(i), []byte(`{}`))
		f.Add(uint8(i), []byte(`{"SecretId":"s"}`))
	}
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		s := newFuzzServer(t)
		target := fuzzOps[int(op)%len(fuzzOps)]
		served := make(chan *httptest.ResponseRecorder, 1)
		go func() { served <- serveFuzz(s, target, body) }()
		var rec *httptest.ResponseRecorder
		select {
		case rec = <-served:
		case <-time.After(2 * time.Second):
			t.Fatalf("%s takes over 2s for body %q", target, body)
		}

		if rec.Code >= 500 {
			t.Fatalf("%s answered %d: %s", target, rec.Code, rec.Body)
		}
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s answered %d with a body that is not a JSON object: %q", target, rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/x-amz-json-1.1" {
			t.Fatalf("%s answered Content-Type %q", target, ct)
		}
		if rec.Code != http.StatusOK {
			if code, _ := out["__type"].(string); code == "" || rec.Header().Get("X-Amzn-ErrorType") != code {
				t.Fatalf("%s error %d without a matching __type and X-Amzn-ErrorType: %q", target, rec.Code, rec.Body)
			}
		}
		if len(body) > 0 && !json.Valid(body) && rec.Code != http.StatusBadRequest {
			t.Fatalf("%s answered %d to a body that is not JSON: %q", target, rec.Code, body)
		}

		// The server still serves: no lock left held, no state corrupted
		// for the seeded secret (unless the input itself deleted it).
		go func() { served <- serveFuzz(s, "secretsmanager.DescribeSecret", []byte(`{"SecretId":"s"}`)) }()
		select {
		case rec := <-served:
			if rec.Code >= 500 {
				t.Fatalf("after %s, DescribeSecret answered %d: %s", target, rec.Code, rec.Body)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("after %s, DescribeSecret hangs: a lock was left held", target)
		}
	})
}
