package mysql_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/rotation"
	"github.com/rekeyhq/rekey/rotation/mysql"
)

const secretPassword = "pw-Secret-9f8e7d"

func TestSecretFormat(t *testing.T) {
	single := mysql.SingleUser()
	cases := []struct {
		name, value string
		wantErr     string // "" for success
	}{
		{"port number", `{"engine":"mysql","host":"h","port":3306,"username":"u","password":"` + secretPassword + `","dbname":"d"}`, ""},
		{"mariadb", `{"engine":"mariadb","host":"h","username":"u","password":"` + secretPassword + `"}`, ""},
		{"ssl true", `{"host":"h","username":"u","password":"` + secretPassword + `","ssl":true}`, ""},
		{"ssl string", `{"host":"h","username":"u","password":"` + secretPassword + `","ssl":"FALSE"}`, ""},
		{"ssl other", `{"host":"h","username":"u","password":"` + secretPassword + `","ssl":"maybe` + secretPassword + `"}`, `key "ssl" is neither a boolean`},
		{"empty host", `{"host":"","username":"u","password":"` + secretPassword + `"}`, `"host" is empty`},
		{"port string", `{"host":"h","port":"6543","username":"u","password":"` + secretPassword + `"}`, ""},
		{"aurora", `{"engine":"aurora-mysql","host":"h","username":"u","password":"` + secretPassword + `"}`, ""},
		{"no host", `{"username":"u","password":"` + secretPassword + `"}`, `missing key "host"`},
		{"no username", `{"host":"h","password":"` + secretPassword + `"}`, `missing key "username"`},
		{"no password", `{"host":"h","username":"u"}`, `missing key "password"`},
		{"empty password", `{"host":"h","username":"u","password":""}`, `"password" is empty`},
		{"username not a string", `{"host":"h","username":7,"password":"` + secretPassword + `"}`, `"username" is not a string`},
		{"port out of range", `{"host":"h","port":70000,"username":"u","password":"` + secretPassword + `"}`, `key "port": out of range 1..65535`},
		{"port not numeric", `{"host":"h","port":"x` + secretPassword + `","username":"u","password":"p"}`, `key "port": want an integer`},
		{"port bool", `{"host":"h","port":true,"username":"u","password":"` + secretPassword + `"}`, `key "port": want an integer`},
		{"postgres", `{"engine":"postgres","host":"h","username":"u","password":"` + secretPassword + `"}`, `engine "postgres" is not one of mysql, mariadb, aurora-mysql, aurora`},
		{"syntax error", `{"host":"h","password":"` + secretPassword + `" "username":"u"}`, "not valid JSON (syntax error at byte"},
		{"array", `["` + secretPassword + `"]`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := rotation.NewSecret("arn:aws:secretsmanager:us-east-1:123456789012:secret:db-x", "v-1", []string{"AWSCURRENT"}, []byte(tc.value))
			out, err := single.NewPending(t.Context(), s, "new-password")
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("NewPending: %v", err)
				}
				var got map[string]any
				if err := json.Unmarshal(out, &got); err != nil {
					t.Fatal(err)
				}
				var in map[string]any
				json.Unmarshal([]byte(tc.value), &in) //nolint:errcheck // valid in these cases
				in["password"] = "new-password"
				if b1, b2 := mustJSON(t, in), mustJSON(t, got); b1 != b2 {
					t.Fatalf("pending value changed more than the password: %s", b2)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("NewPending = %v, want an error containing %q", err, tc.wantErr)
			}
			msg := err.Error()
			if strings.Contains(msg, secretPassword) || !strings.HasPrefix(msg, "mysql: ") || !strings.Contains(msg, "v-1") || !strings.Contains(msg, "db-x") {
				t.Fatalf("error %q must start with the package, name the secret and version, and hold no value", msg)
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

func TestAlternatingPendingUser(t *testing.T) {
	alt := mysql.AlternatingUsers("arn:super")
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
	for _, bad := range []string{"_clone", strings.Repeat("a", 75)} {
		s := rotation.NewSecret("arn:x", "v", nil, []byte(`{"host":"h","username":"`+bad+`","password":"p"}`))
		if _, err := alt.NewPending(t.Context(), s, "pw"); err == nil {
			t.Fatalf("NewPending accepted username %q", bad)
		}
	}
}
