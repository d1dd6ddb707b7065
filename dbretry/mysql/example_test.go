package mysql_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/rekeyhq/rekey/dbretry"
	"github.com/rekeyhq/rekey/dbretry/mysql"
	"github.com/rekeyhq/rekey/secretcache"
	"github.com/rekeyhq/rekey/secretcache/secretcachetest"
)

// A service's database/sql pool on MySQL: new connections take the
// credentials from the cached RDS secret, and a rotation never fails a
// query. It needs AWS and a database, so it has no Output; the tests run
// the same calls against the emulator and MariaDB.
func ExampleOpenDB() {
	ctx := context.Background()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	cache, err := secretcache.New(secretsmanager.NewFromConfig(awsCfg))
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	src, err := dbretry.NewSource(cache, "prod/orders/mysql")
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close() // after db.Close, before cache.Close
	db := mysql.OpenDB(src, func(c *mysqldriver.Config) {
		c.TLSConfig = "true" // verify the server's certificate
		c.ParseTime = true
	})
	defer db.Close()
	db.SetConnMaxLifetime(30 * time.Minute)

	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil {
		log.Fatal(err)
	}
}

// A PostgreSQL secret handed to the MySQL pool by mistake fails every
// connect with an *EngineError before any login is tried.
func ExampleEngineError() {
	srv, err := secretcachetest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	sm := secretsmanager.NewFromConfig(srv.AWSConfig())
	ctx := context.Background()
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:               aws.String("prod/orders/db"),
		ClientRequestToken: aws.String("00000000-0000-4000-8000-000000000001"),
		SecretString:       aws.String(`{"engine":"postgres","host":"orders.example.com","port":5432,"username":"orders","password":"hunter2-but-longer"}`),
	}); err != nil {
		log.Fatal(err)
	}
	cache, err := secretcache.New(sm)
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	src, err := dbretry.NewSource(cache, "prod/orders/db")
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()
	db := mysql.OpenDB(src)
	defer db.Close()

	err = db.PingContext(ctx)
	var ee *mysql.EngineError
	fmt.Println(errors.As(err, &ee), ee.Engine)
	fmt.Println(err)
	// Output:
	// true postgres
	// mysql: secret "prod/orders/db" version 00000000-0000-4000-8000-000000000001 is for engine "postgres", not one of mysql, mariadb, aurora, aurora-mysql
}
