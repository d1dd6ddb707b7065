package dbretry_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/dbretry"
	"github.com/rekeyhq/rekey/secretcache"
)

// readSecret stores value as a new secret in e and reads it back through
// the cache.
func readSecret(t *testing.T, e *env, name, value string) *secretcache.Secret {
	t.Helper()
	in := &secretsmanager.CreateSecretInput{Name: aws.String(name)}
	if strings.HasPrefix(value, "binary:") {
		in.SecretBinary = []byte(value)
	} else {
		in.SecretString = aws.String(value)
	}
	if _, err := e.sm.CreateSecret(t.Context(), in); err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	s, err := e.cache.Get(t.Context(), name)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return s
}

func TestParseCredentials(t *testing.T) {
	e := newEnv(t, nil, "unused")
	const pw = "s3cret-Value!"
	full := dbretry.Credentials{Engine: "postgres", Host: "db.example.com", Port: 5432, Username: "app", Password: pw, DBName: "orders"}
	for _, tc := range []struct {
		name    string
		value   string
		want    dbretry.Credentials
		wantErr string // substring; "" means success
		invalid bool   // the error wraps secretcache.ErrInvalidJSON
	}{
		{name: "port number", value: `{"engine":"postgres","host":"db.example.com","port":5432,"username":"app","password":"` + pw + `","dbname":"orders"}`, want: full},
		{name: "port string", value: `{"engine":"postgres","host":"db.example.com","port":"5432","username":"app","password":"` + pw + `","dbname":"orders"}`, want: full},
		{name: "extra keys ignored", value: `{"engine":"postgres","host":"db.example.com","port":5432,"username":"app","password":"` + pw + `","dbname":"orders","masterarn":"arn:x","dbInstanceIdentifier":"db-1"}`, want: full},
		{name: "optional keys absent", value: `{"host":"h","username":"u","password":"` + pw + `"}`, want: dbretry.Credentials{Host: "h", Username: "u", Password: pw}},
		{name: "port null", value: `{"host":"h","port":null,"username":"u","password":"` + pw + `"}`, want: dbretry.Credentials{Host: "h", Username: "u", Password: pw}},
		{name: "mysql", value: `{"engine":"mysql","host":"h","port":3306,"username":"u","password":"` + pw + `"}`, want: dbretry.Credentials{Engine: "mysql", Host: "h", Port: 3306, Username: "u", Password: pw}},
		{name: "missing password", value: `{"host":"h","port":5432,"username":"u"}`, wantErr: `missing key "password"`},
		{name: "missing username", value: `{"host":"h","password":"` + pw + `"}`, wantErr: `missing key "username"`},
		{name: "missing host", value: `{"username":"u","password":"` + pw + `"}`, wantErr: `missing key "host"`},
		{name: "empty password", value: `{"host":"h","username":"u","password":""}`, wantErr: `key "password" is empty`},
		{name: "password not a string", value: `{"host":"h","username":"u","password":12345678}`, wantErr: `key "password" is not a string`, invalid: true},
		{name: "port fraction", value: `{"host":"h","port":5432.5,"username":"u","password":"` + pw + `"}`, wantErr: `key "port": want an integer`},
		{name: "port word", value: `{"host":"h","port":"fivefour","username":"u","password":"` + pw + `"}`, wantErr: `key "port": want an integer`},
		{name: "port zero", value: `{"host":"h","port":0,"username":"u","password":"` + pw + `"}`, wantErr: `key "port": out of range`},
		{name: "port too large", value: `{"host":"h","port":"70000","username":"u","password":"` + pw + `"}`, wantErr: `key "port": out of range`},
		{name: "port object", value: `{"host":"h","port":{"n":1},"username":"u","password":"` + pw + `"}`, wantErr: `key "port": want an integer`},
		{name: "not JSON", value: `password=` + pw, wantErr: "not an RDS secret", invalid: true},
		{name: "JSON array", value: `["` + pw + `"]`, wantErr: "not an RDS secret", invalid: true},
		{name: "binary", value: "binary:" + pw, wantErr: "not an RDS secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := readSecret(t, e, "parse/"+strings.ReplaceAll(tc.name, " ", "-"), tc.value)
			got, err := dbretry.ParseCredentials(s)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseCredentials: %v", err)
				}
				tc.want.VersionID = s.VersionID()
				if got != tc.want {
					t.Fatalf("got %#v, want %#v", got, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseCredentials = %#v, want an error containing %q", got, tc.wantErr)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.wantErr) || !strings.HasPrefix(msg, "dbretry: ") || !strings.Contains(msg, s.Name()) || !strings.Contains(msg, s.VersionID()) {
				t.Errorf("error %q: want prefix dbretry:, the secret name and version, and %q", msg, tc.wantErr)
			}
			if strings.Contains(msg, pw) || strings.Contains(msg, "fivefour") || strings.Contains(msg, "12345678") {
				t.Errorf("error %q quotes the value", msg)
			}
			if got := errors.Is(err, secretcache.ErrInvalidJSON); got != tc.invalid {
				t.Errorf("errors.Is(err, ErrInvalidJSON) = %v, want %v", got, tc.invalid)
			}
		})
	}
	if _, err := dbretry.ParseCredentials(nil); err == nil {
		t.Error("ParseCredentials(nil) succeeded")
	}
}

func TestCredentialsNeverPrintPassword(t *testing.T) {
	const pw = "do-not-print-me"
	c := dbretry.Credentials{Engine: "postgres", Host: "h", Port: 5432, Username: "app", Password: pw, DBName: "d", VersionID: "v1"}
	wrapped := struct{ C dbretry.Credentials }{c}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		out = append(out, fmt.Sprintf(verb, c), fmt.Sprintf(verb, &c), fmt.Sprintf(verb, wrapped))
	}
	out = append(out, c.String(), c.GoString(), fmt.Sprint(c), fmt.Sprintln(c))
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("creds", "c", c)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("creds", "c", c)
	out = append(out, logged.String())
	for _, s := range out {
		if strings.Contains(s, pw) || strings.Contains(s, fmt.Sprintf("%x", pw)) {
			t.Errorf("output shows the password: %s", s)
		}
	}
	// encoding/json and slog's handlers, with the Credentials nested in a
	// struct, a slice and a map.
	type holder struct {
		Name  string
		Creds dbretry.Credentials
		Ptr   *dbretry.Credentials
	}
	nested := []any{c, &c, holder{"h", c, &c}, []dbretry.Credentials{c}, map[string]dbretry.Credentials{"k": c}, map[string]any{"h": holder{Creds: c}}}
	for _, v := range nested {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%T): %v", v, err)
		}
		out = append(out, string(b))
	}
	var handlers strings.Builder
	for _, l := range []*slog.Logger{slog.New(slog.NewJSONHandler(&handlers, nil)), slog.New(slog.NewTextHandler(&handlers, nil))} {
		for _, v := range nested {
			l.Info("nested", "v", v, slog.Group("g", slog.Any("v", v)))
		}
	}
	out = append(out, handlers.String())
	for _, s := range out {
		if strings.Contains(s, pw) || strings.Contains(s, fmt.Sprintf("%x", pw)) {
			t.Errorf("output shows the password: %s", s)
		}
	}
	if want := "postgres app@h:5432/d version v1 (password redacted)"; c.String() != want {
		t.Errorf("String = %q, want %q", c.String(), want)
	}
	if !strings.Contains(logged.String(), `"username":"app"`) {
		t.Errorf("slog output lacks the username: %s", logged.String())
	}
}

// MarshalJSON keeps every field but the password.
func TestCredentialsMarshalJSON(t *testing.T) {
	c := dbretry.Credentials{Engine: "postgres", Host: "h", Port: 5432, Username: "app", Password: "pw-not-here", DBName: "d", VersionID: "v1"}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"Engine": "postgres", "Host": "h", "Port": float64(5432), "Username": "app", "DBName": "d", "VersionID": "v1"}
	if !maps.Equal(got, want) {
		t.Errorf("json.Marshal = %s, want the fields of %v", b, want)
	}
}
