package rotationtest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/rotation"
)

// SecretPassword is the password in FormatCases' values; no error may
// quote it.
const SecretPassword = "pw-Secret-9f8e7d"

// FormatCase is one secret value given to a strategy's NewPending.
type FormatCase struct {
	Name, Value string
	WantErr     string // "" for success
}

// FormatCases are the cases of the RDS secret format every engine treats
// alike, since they share internal/rdssecret; an engine adds its own
// (engine names, default port, extra keys).
var FormatCases = []FormatCase{
	{"port string", `{"host":"h","port":"6543","username":"u","password":"` + SecretPassword + `"}`, ""},
	{"no host", `{"username":"u","password":"` + SecretPassword + `"}`, `missing key "host"`},
	{"empty host", `{"host":"","username":"u","password":"` + SecretPassword + `"}`, `key "host" is empty`},
	{"no username", `{"host":"h","password":"` + SecretPassword + `"}`, `missing key "username"`},
	{"no password", `{"host":"h","username":"u"}`, `missing key "password"`},
	{"empty password", `{"host":"h","username":"u","password":""}`, `"password" is empty`},
	{"username not a string", `{"host":"h","username":7,"password":"` + SecretPassword + `"}`, `"username" is not a string`},
	{"port out of range", `{"host":"h","port":70000,"username":"u","password":"` + SecretPassword + `"}`, `key "port": out of range 1..65535`},
	{"port not numeric", `{"host":"h","port":"x` + SecretPassword + `","username":"u","password":"p"}`, `key "port": want an integer`},
	{"port bool", `{"host":"h","port":true,"username":"u","password":"` + SecretPassword + `"}`, `key "port": want an integer`},
	{"syntax error", `{"host":"h","password":"` + SecretPassword + `" "username":"u"}`, "not valid JSON (syntax error at byte"},
	{"array", `["` + SecretPassword + `"]`, "not a JSON object"},
	{"null", `null`, "not a JSON object"},
}

// CheckNewPending runs s.NewPending on each case's value. A success must
// change the password and nothing else; an error must contain WantErr,
// start with prefix (the package name, e.g. "mysql: "), name the secret
// and its version, and quote no value.
func CheckNewPending(t *testing.T, s rotation.Strategy, prefix string, cases []FormatCase) {
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			sec := rotation.NewSecret("arn:aws:secretsmanager:us-east-1:123456789012:secret:db-x", "v-1", []string{"AWSCURRENT"}, []byte(tc.Value))
			out, err := s.NewPending(t.Context(), sec, "new-password")
			if tc.WantErr == "" {
				if err != nil {
					t.Fatalf("NewPending: %v", err)
				}
				var got map[string]any
				if err := json.Unmarshal(out, &got); err != nil {
					t.Fatal(err)
				}
				var in map[string]any
				if err := json.Unmarshal([]byte(tc.Value), &in); err != nil {
					t.Fatalf("a success case is not JSON: %v", err)
				}
				in["password"] = "new-password"
				if b1, b2 := mustJSON(t, in), mustJSON(t, got); b1 != b2 {
					t.Fatalf("pending value changed more than the password: %s", b2)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.WantErr) {
				t.Fatalf("NewPending = %v, want an error containing %q", err, tc.WantErr)
			}
			msg := err.Error()
			if strings.Contains(msg, SecretPassword) || !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, "v-1") || !strings.Contains(msg, "db-x") {
				t.Fatalf("error %q must start with %q, name the secret and version, and hold no value", msg, prefix)
			}
		})
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// CheckAlternatingPendingUser checks that an alternating strategy's
// pending value names the other user of the pair (app ↔ app_clone), and
// that it refuses "_clone" and tooLong, a name whose clone would exceed
// the engine's identifier limit.
func CheckAlternatingPendingUser(t *testing.T, alt rotation.Strategy, tooLong string) {
	for current, want := range map[string]string{"app": "app_clone", "app_clone": "app", "my_clone_clone": "my_clone"} {
		s := rotation.NewSecret("arn:x", "v", nil, []byte(`{"host":"h","username":"`+current+`","password":"p"}`))
		out, err := alt.NewPending(t.Context(), s, "pw")
		if err != nil {
			t.Fatal(err)
		}
		var v struct{ Username, Password string }
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatal(err)
		}
		if v.Username != want || v.Password != "pw" {
			t.Fatalf("pending after %s: user %s, want %s", current, v.Username, want)
		}
	}
	for _, bad := range []string{"_clone", tooLong} {
		s := rotation.NewSecret("arn:x", "v", nil, []byte(`{"host":"h","username":"`+bad+`","password":"p"}`))
		if _, err := alt.NewPending(t.Context(), s, "pw"); err == nil {
			t.Fatalf("NewPending accepted username %q", bad)
		}
	}
}
