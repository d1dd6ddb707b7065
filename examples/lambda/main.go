// Command lambda is an AWS Lambda function (aws-lambda-go) that reads an
// API key and database credentials through one secretcache.Cache per
// execution environment, warmed at init, so that a warm invocation makes no
// Secrets Manager call at all. See README.md for why, with the arithmetic
// for a fleet of 1,000 concurrent environments.
//
// Configuration, from the function's environment:
//
//	API_KEY_SECRET_ID  id (name or ARN) of a plain-string secret: the API key
//	                   callers must present in the "token" field of the event
//	DB_SECRET_ID       id of an RDS-format JSON secret with host, username
//	                   and password
//	SECRET_IDS         comma-separated ids to load at init; default the two
//	                   above
//	PREFETCH_MODE      how to load them: "batch" (default, one
//	                   BatchGetSecretValue per 20 ids), "each" (one
//	                   GetSecretValue per id, concurrently) or "off"
//	CACHE_TTL          secretcache TTL, a Go duration; default 5m
//	CACHE_MAX_STALE    secretcache MaxStale; default 1h, negative: never
//	                   serve past TTL
//
// Outside Lambda (AWS_LAMBDA_RUNTIME_API unset), or with -demo, it runs the
// same handler on the in-process Secrets Manager emulator and prints the API
// calls it made against the invocations it served:
//
//	go run ./examples/lambda -demo -n 1000
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// initTimeout bounds the init phase's own work, well inside Lambda's 10 s
// init limit, so that a slow or throttled Secrets Manager delays a cold
// start by at most this much instead of failing it.
const initTimeout = 5 * time.Second

func main() {
	demo := flag.Bool("demo", false, "run on the in-process Secrets Manager emulator (the default outside Lambda)")
	n := flag.Int("n", 1000, "with -demo: how many invocations to simulate")
	flag.Parse()

	if *demo || os.Getenv("AWS_LAMBDA_RUNTIME_API") == "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		err := runDemo(ctx, os.Stdout, *n)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "lambda:", err)
			os.Exit(1)
		}
		return
	}

	// Everything from here to lambda.Start is the init phase: it runs once
	// per execution environment, and what it builds lives, frozen between
	// invocations, until Lambda retires the environment. The cache is never
	// closed: lambda.Start does not return, and the process ends with the
	// environment.
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, cancel := context.WithTimeout(context.Background(), initTimeout)
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		cancel()
		log.Error("loading AWS configuration", "error", err)
		os.Exit(1)
	}
	h, err := newHandler(ctx, secretsmanager.NewFromConfig(cfg), os.Getenv, log)
	cancel()
	if err != nil {
		log.Error("configuring the function", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
