package postgres_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/rotation"
	"github.com/rekeyhq/rekey/rotation/postgres"
)

func Example_alternatingUsers() {
	sm := secretsmanager.NewFromConfig(aws.Config{Region: "us-east-1"}) // from config.LoadDefaultConfig in a real program
	alt, err := postgres.AlternatingUsers(sm, "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds-master-AbCdEf")
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
