package postgres_test

import (
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/internal/rotationtest"
)

const secretPassword = rotationtest.SecretPassword

func TestSecretFormat(t *testing.T) {
	cases := append([]rotationtest.FormatCase{
		{Name: "port number", Value: `{"engine":"postgres","host":"h","port":5432,"username":"u","password":"` + secretPassword + `","dbname":"d"}`},
		{Name: "aurora", Value: `{"engine":"aurora-postgresql","host":"h","username":"u","password":"` + secretPassword + `"}`},
		{Name: "mysql", Value: `{"engine":"mysql","host":"h","username":"u","password":"` + secretPassword + `"}`, WantErr: `engine "mysql" is not postgres`},
	}, rotationtest.FormatCases...)
	rotationtest.CheckNewPending(t, singleUser(t), "postgres: ", cases)
}

func TestAlternatingPendingUser(t *testing.T) {
	// 58 + len("_clone") exceeds PostgreSQL's 63-byte identifiers.
	rotationtest.CheckAlternatingPendingUser(t, alternatingUsers(t, "arn:super"), strings.Repeat("a", 58))
}
