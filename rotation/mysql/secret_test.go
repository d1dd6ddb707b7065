package mysql_test

import (
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/internal/rotationtest"
)

const secretPassword = rotationtest.SecretPassword

func TestSecretFormat(t *testing.T) {
	cases := append([]rotationtest.FormatCase{
		{Name: "port number", Value: `{"engine":"mysql","host":"h","port":3306,"username":"u","password":"` + secretPassword + `","dbname":"d"}`},
		{Name: "mariadb", Value: `{"engine":"mariadb","host":"h","username":"u","password":"` + secretPassword + `"}`},
		{Name: "aurora", Value: `{"engine":"aurora-mysql","host":"h","username":"u","password":"` + secretPassword + `"}`},
		{Name: "engine case", Value: `{"engine":"MySQL","host":"h","username":"u","password":"` + secretPassword + `"}`},
		{Name: "ssl true", Value: `{"host":"h","username":"u","password":"` + secretPassword + `","ssl":true}`},
		{Name: "ssl string", Value: `{"host":"h","username":"u","password":"` + secretPassword + `","ssl":"FALSE"}`},
		{Name: "ssl other", Value: `{"host":"h","username":"u","password":"` + secretPassword + `","ssl":"maybe` + secretPassword + `"}`, WantErr: `key "ssl" is neither a boolean`},
		{Name: "postgres", Value: `{"engine":"postgres","host":"h","username":"u","password":"` + secretPassword + `"}`, WantErr: `engine "postgres" is not one of mysql, mariadb, aurora-mysql, aurora`},
	}, rotationtest.FormatCases...)
	rotationtest.CheckNewPending(t, singleUser(t), "mysql: ", cases)
}

func TestAlternatingPendingUser(t *testing.T) {
	// 75 + len("_clone") exceeds MySQL's 80-character user names.
	rotationtest.CheckAlternatingPendingUser(t, alternatingUsers(t, "arn:super"), strings.Repeat("a", 75))
}
