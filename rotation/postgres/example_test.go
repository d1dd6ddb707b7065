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
	alt := postgres.AlternatingUsers("arn:aws:secretsmanager:us-east-1:123456789012:secret:rds-master-AbCdEf")
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
