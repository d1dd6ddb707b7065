package mysql_test

import (
	"context"
	"fmt"

	"github.com/rekeyhq/rekey/rotation"
	"github.com/rekeyhq/rekey/rotation/mysql"
)

func Example_alternatingUsers() {
	// The strategy reads the superuser secret through the client of the
	// rotation.Rotator that runs it.
	alt, err := mysql.AlternatingUsers("arn:aws:secretsmanager:us-east-1:123456789012:secret:rds-master-AbCdEf")
	if err != nil {
		fmt.Println(err)
		return
	}
	// createSecret derives the pending value: the other login, a new password.
	current := rotation.NewSecret("arn:aws:secretsmanager:us-east-1:123456789012:secret:app-db-AbCdEf", "v1", []string{"AWSCURRENT"},
		[]byte(`{"engine":"mysql","host":"db.internal","port":3306,"username":"app","password":"old","dbname":"app","ssl":true}`))
	pending, err := alt.NewPending(context.Background(), current, "new-password")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(pending))
	// Output:
	// {"dbname":"app","engine":"mysql","host":"db.internal","password":"new-password","port":3306,"ssl":true,"username":"app_clone"}
}

func Example_singleUser() {
	s, err := mysql.SingleUser()
	if err != nil {
		fmt.Println(err)
		return
	}
	// createSecret keeps the user and every other key, and sets the new
	// password; setSecret then runs ALTER USER on the account the login
	// matches.
	current := rotation.NewSecret("arn:aws:secretsmanager:us-east-1:123456789012:secret:app-db-AbCdEf", "v1", []string{"AWSCURRENT"},
		[]byte(`{"engine":"mariadb","host":"db.internal","port":"3306","username":"app","password":"old","note":"kept"}`))
	pending, err := s.NewPending(context.Background(), current, "new-password")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(pending))

	// A secret of another engine fails with the engine it names, never a
	// value.
	other := rotation.NewSecret("arn:aws:secretsmanager:us-east-1:123456789012:secret:app-db-AbCdEf", "v1", []string{"AWSCURRENT"},
		[]byte(`{"engine":"postgres","host":"db.internal","username":"app","password":"old"}`))
	_, err = s.NewPending(context.Background(), other, "new-password")
	fmt.Println(err)
	// Output:
	// {"engine":"mariadb","host":"db.internal","note":"kept","password":"new-password","port":"3306","username":"app"}
	// mysql: secret "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-db-AbCdEf" version v1: engine "postgres" is not one of mysql, mariadb, aurora-mysql, aurora
}

// Invalid options fail the constructor, so a misconfigured rotation
// function fails when it starts, before any rotation step.
func ExampleSingleUser_invalidOptions() {
	_, err := mysql.SingleUser(func(o *mysql.Options) { o.TLS = "sometimes" })
	fmt.Println(err)
	_, err = mysql.AlternatingUsers("")
	fmt.Println(err)
	// Output:
	// mysql: SingleUser: Options.TLS "sometimes" is not one of "false", "preferred", "skip-verify", "true"
	// mysql: AlternatingUsers: the superuser secret id is empty
}
