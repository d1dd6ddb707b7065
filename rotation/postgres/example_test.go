package postgres_test

import (
	"context"
	"fmt"

	"github.com/rekeyhq/rekey/rotation"
	"github.com/rekeyhq/rekey/rotation/postgres"
)

func Example_alternatingUsers() {
	// The strategy reads the superuser secret through the client of the
	// rotation.Rotator that runs it.
	alt, err := postgres.AlternatingUsers("arn:aws:secretsmanager:us-east-1:123456789012:secret:rds-master-AbCdEf")
	if err != nil {
		fmt.Println(err)
		return
	}
	// createSecret derives the pending value: the other login, a new password.
	current := rotation.NewSecret("arn:aws:secretsmanager:us-east-1:123456789012:secret:app-db-AbCdEf", "v1", []string{"AWSCURRENT"},
		[]byte(`{"engine":"postgres","host":"db.internal","port":5432,"username":"app","password":"old","dbname":"app"}`))
	pending, err := alt.NewPending(context.Background(), current, "new-password")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(pending))
	// Output:
	// {"dbname":"app","engine":"postgres","host":"db.internal","password":"new-password","port":5432,"username":"app_clone"}
}

func Example_singleUser() {
	s, err := postgres.SingleUser()
	if err != nil {
		fmt.Println(err)
		return
	}
	// createSecret keeps the user and every other key, and sets the new
	// password; setSecret then runs ALTER ROLE with its SCRAM verifier.
	current := rotation.NewSecret("arn:aws:secretsmanager:us-east-1:123456789012:secret:app-db-AbCdEf", "v1", []string{"AWSCURRENT"},
		[]byte(`{"engine":"postgres","host":"db.internal","port":"5432","username":"app","password":"old","dbname":"app","note":"kept"}`))
	pending, err := s.NewPending(context.Background(), current, "new-password")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(pending))

	// A value that is not in the RDS format fails with the key it lacks,
	// never the value.
	broken := rotation.NewSecret("arn:aws:secretsmanager:us-east-1:123456789012:secret:app-db-AbCdEf", "v1", []string{"AWSCURRENT"},
		[]byte(`{"host":"db.internal","password":"old"}`))
	_, err = s.NewPending(context.Background(), broken, "new-password")
	fmt.Println(err)
	// Output:
	// {"dbname":"app","engine":"postgres","host":"db.internal","note":"kept","password":"new-password","port":"5432","username":"app"}
	// postgres: secret "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-db-AbCdEf" version v1: missing key "username"
}

// Invalid options fail the constructor, so a misconfigured rotation
// function fails when it starts, before any rotation step.
func ExampleSingleUser_invalidOptions() {
	_, err := postgres.SingleUser(func(o *postgres.Options) { o.SSLMode = "sometimes" })
	fmt.Println(err)
	_, err = postgres.AlternatingUsers("")
	fmt.Println(err)
	// Output:
	// postgres: SingleUser: Options.SSLMode "sometimes" is not a libpq sslmode
	// postgres: AlternatingUsers: the superuser secret id is empty
}
