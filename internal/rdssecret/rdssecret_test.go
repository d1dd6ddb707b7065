package rdssecret_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/internal/rdssecret"
)

const pw = "pw-LEAK-1234"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        rdssecret.Secret // Fields not compared
		wantErr     string
		notObject   bool
	}{
		{name: "full", value: `{"engine":"mysql","host":"h","port":3306,"username":"u","password":"` + pw + `","dbname":"d","masterarn":"arn:m"}`,
			want: rdssecret.Secret{Engine: "mysql", Host: "h", Port: 3306, Username: "u", Password: pw, DBName: "d", MasterARN: "arn:m"}},
		{name: "port string", value: `{"host":"h","port":" 5432 ","username":"u","password":"` + pw + `"}`, want: rdssecret.Secret{Host: "h", Port: 5432, Username: "u", Password: pw}},
		{name: "port null", value: `{"host":"h","port":null,"username":"u","password":"` + pw + `"}`, want: rdssecret.Secret{Host: "h", Username: "u", Password: pw}},
		{name: "missing host", value: `{"username":"u","password":"` + pw + `"}`, wantErr: `missing key "host"`},
		{name: "null password", value: `{"host":"h","username":"u","password":null}`, wantErr: `missing key "password"`},
		{name: "empty username", value: `{"host":"h","username":"","password":"` + pw + `"}`, wantErr: `key "username" is empty`},
		{name: "number password", value: `{"host":"h","username":"u","password":12345678}`, wantErr: `key "password" is not a string`},
		{name: "port fraction", value: `{"host":"h","port":1.5,"username":"u","password":"` + pw + `"}`, wantErr: `key "port": want an integer`},
		{name: "port password-like", value: `{"host":"h","port":"` + pw + `","username":"u","password":"x"}`, wantErr: `key "port": want an integer`},
		{name: "port range", value: `{"host":"h","port":65536,"username":"u","password":"` + pw + `"}`, wantErr: `key "port": out of range`},
		{name: "syntax", value: `{"password":"` + pw + `" "host":"h"}`, wantErr: "syntax error at byte", notObject: true},
		{name: "array", value: `["` + pw + `"]`, wantErr: "not a JSON object", notObject: true},
		{name: "null", value: `null`, wantErr: "not a JSON object", notObject: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rdssecret.Parse([]byte(tc.value))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				got.Fields = nil
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("got %+v, want %+v", got, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "12345678") {
				t.Fatalf("error quotes the value: %v", err)
			}
			if errors.Is(err, rdssecret.ErrNotObject) != tc.notObject {
				t.Fatalf("errors.Is(err, ErrNotObject) = %v, want %v", !tc.notObject, tc.notObject)
			}
		})
	}
}

func TestWithKeepsOtherKeys(t *testing.T) {
	s, err := rdssecret.Parse([]byte(`{"engine":"postgres","host":"h","port":"5432","username":"u","password":"old","note":{"a":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.With("u2", "new")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got["username"] != "u2" || got["password"] != "new" || got["port"] != "5432" || got["note"].(map[string]any)["a"] != 1.0 || got["engine"] != "postgres" {
		t.Fatalf("With = %s", out)
	}
	if s.Password != "old" || string(s.Fields["password"]) != `"old"` {
		t.Fatal("With modified the parsed secret")
	}
}

func TestSSL(t *testing.T) {
	for _, tc := range []struct {
		ssl          string // "" leaves the key out
		on, set, bad bool
	}{
		{ssl: ""},
		{ssl: "null"},
		{ssl: "true", on: true, set: true},
		{ssl: "false", set: true},
		{ssl: `"TRUE"`, on: true, set: true},
		{ssl: `"False"`, set: true},
		{ssl: `"yes` + pw + `"`, bad: true},
		{ssl: "1", bad: true},
	} {
		value := `{"host":"h","username":"u","password":"x"`
		if tc.ssl != "" {
			value += `,"ssl":` + tc.ssl
		}
		s, err := rdssecret.Parse([]byte(value + "}"))
		if err != nil {
			t.Fatalf("Parse(ssl %s): %v", tc.ssl, err)
		}
		on, set, err := s.SSL()
		if tc.bad {
			if !errors.Is(err, rdssecret.ErrNotBool) || !strings.Contains(err.Error(), `key "ssl"`) || strings.Contains(err.Error(), pw) {
				t.Fatalf("SSL(%s) error = %v, want ErrNotBool naming the key and not the value", tc.ssl, err)
			}
			continue
		}
		if err != nil || on != tc.on || set != tc.set {
			t.Fatalf("SSL(%s) = %v, %v, %v; want %v, %v, nil", tc.ssl, on, set, err, tc.on, tc.set)
		}
	}
}
