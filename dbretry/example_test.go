package dbretry_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rekeyhq/rekey/dbretry"
	"github.com/rekeyhq/rekey/secretcache"
	"github.com/rekeyhq/rekey/secretcache/secretcachetest"
)

// A service's pool: new connections take the credentials from the cached
// secret, and a rotation never fails a query.
func ExampleNewPool() {
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

	src, err := dbretry.NewSource(cache, "prod/orders/db")
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close() // runs before cache.Close: deferred calls run last first
	cfg, err := pgxpool.ParseConfig("sslmode=verify-full pool_max_conns=20")
	if err != nil {
		log.Fatal(err)
	}
	pool, err := dbretry.NewPool(ctx, src, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil {
		log.Fatal(err)
	}
}

// database/sql users get the same through OpenDB.
func ExampleOpenDB() {
	cache, err := secretcache.New(secretsmanager.NewFromConfig(aws.Config{Region: "us-east-1"}))
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	src, err := dbretry.NewSource(cache, "prod/orders/db")
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()
	db := dbretry.OpenDB(src)
	defer db.Close()
	db.SetConnMaxLifetime(30 * time.Minute)
	if _, err := db.ExecContext(context.Background(), "UPDATE orders SET seen = true"); err != nil {
		log.Fatal(err)
	}
}

func ExampleParseCredentials() {
	srv, err := secretcachetest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	sm := srv.Client()
	ctx := context.Background()
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:               aws.String("prod/orders/db"),
		ClientRequestToken: aws.String("00000000-0000-4000-8000-000000000001"),
		SecretString:       aws.String(`{"engine":"postgres","host":"orders.example.com","port":"5432","username":"orders","password":"hunter2-but-longer","dbname":"orders"}`),
	}); err != nil {
		log.Fatal(err)
	}
	cache, err := secretcache.New(sm)
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	s, err := cache.Get(ctx, "prod/orders/db")
	if err != nil {
		log.Fatal(err)
	}
	c, err := dbretry.ParseCredentials(s)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Host, c.Port, c.Username, c.DBName)
	fmt.Println(c) // never shows the password
	fmt.Printf("%#v\n", c)
	// Output:
	// orders.example.com 5432 orders orders
	// postgres orders@orders.example.com:5432/orders version 00000000-0000-4000-8000-000000000001 (password redacted)
	// dbretry.Credentials{Engine:"postgres", Host:"orders.example.com", Port:5432, Username:"orders", Password:<redacted>, DBName:"orders", VersionID:"00000000-0000-4000-8000-000000000001"}
}

func ExampleIsAuthError() {
	// What pgx returns for a wrong password, wrapped by some caller.
	wrong := fmt.Errorf("connect: %w", &pgconn.PgError{Severity: "FATAL", Code: "28P01", Message: `password authentication failed for user "orders"`})
	fmt.Println(dbretry.IsAuthError(wrong))

	// A MySQL driver error, recognised by its shape without importing the
	// driver: MySQLError has the fields of go-sql-driver/mysql's MySQLError.
	fmt.Println(dbretry.IsAuthError(&MySQLError{Number: 1045, SQLState: [5]byte{'2', '8', '0', '0', '0'}}))

	// Not refused logins.
	fmt.Println(dbretry.IsAuthError(&pgconn.PgError{Code: "42601"})) // syntax error
	fmt.Println(dbretry.IsAuthError(context.DeadlineExceeded))
	// Output:
	// true
	// true
	// false
	// false
}

// Connect brings the same behaviour to any driver: here a stand-in for a
// MySQL server whose password was changed by a rotation that has not
// finished, so only AWSPENDING logs in.
func ExampleConnect() {
	srv, err := secretcachetest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	sm := srv.Client()
	ctx := context.Background()
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String("prod/shop/mysql"),
		SecretString: aws.String(`{"engine":"mysql","host":"shop.example.com","port":3306,"username":"shop","password":"old-password"}`),
	}); err != nil {
		log.Fatal(err)
	}
	cache, err := secretcache.New(sm)
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	src, err := dbretry.NewSource(cache, "prod/shop/mysql", func(o *dbretry.Options) {
		o.OnSwitch = func(id, _, _, stage string) { fmt.Println("switched", id, "to", stage) }
	})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Credentials(ctx); err != nil { // the cache now holds the old password
		log.Fatal(err)
	}

	// setSecret of a single-user rotation: the new password is in
	// AWSPENDING and in the database; AWSCURRENT still has the old one.
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:      aws.String("prod/shop/mysql"),
		SecretString:  aws.String(`{"engine":"mysql","host":"shop.example.com","port":3306,"username":"shop","password":"new-password"}`),
		VersionStages: []string{"AWSPENDING"},
	}); err != nil {
		log.Fatal(err)
	}
	dial := func(ctx context.Context, c dbretry.Credentials) (string, error) {
		if c.Password != "new-password" {
			return "", &MySQLError{Number: 1045, Message: "Access denied for user 'shop'"}
		}
		return fmt.Sprintf("%s@%s:%d", c.Username, c.Host, c.Port), nil
	}
	conn, err := dbretry.Connect(ctx, src, dial)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("connected as", conn)
	fmt.Printf("%+v\n", src.Stats())
	// Output:
	// switched prod/shop/mysql to AWSPENDING
	// connected as shop@shop.example.com:3306
	// {AuthFailures:1 Rereads:1 Switches:1 Exhausted:0}
}
