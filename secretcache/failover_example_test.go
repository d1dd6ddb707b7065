package secretcache_test

import (
	"context"
	"fmt"
	"log"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/rekeyhq/rekey/secretcache"
	"github.com/rekeyhq/rekey/secretcache/secretcachetest"
)

// A secret replicated from us-east-1 to eu-west-1 is read while us-east-1
// hangs. Real code builds both clients from its AWS config:
// secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.Region = "eu-west-1" }).
func ExampleReplica() {
	srv, err := secretcachetest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	primary := secretsmanager.NewFromConfig(srv.AWSConfigFor("us-east-1"))
	replica := secretsmanager.NewFromConfig(srv.AWSConfigFor("eu-west-1"))
	ctx := context.Background()
	if _, err := primary.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("prod/db"), SecretString: aws.String("pw"),
		AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String("eu-west-1")}},
	}); err != nil {
		log.Fatal(err)
	}
	srv.InjectFault(secretcachetest.Fault{Region: "us-east-1", Hang: true}) // a Regional outage

	cache, err := secretcache.New(primary, func(o *secretcache.Options) {
		o.Replicas = []secretcache.Replica{{Region: "eu-west-1", Client: replica}}
	})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	// Cold: the primary call times out after PrimaryTimeout (800ms), then
	// the replica answers.
	s, err := cache.Get(ctx, "prod/db")
	if err != nil {
		log.Fatal(err)
	}
	v, _ := s.Text()
	fmt.Println(v, "from", s.Region(), "- failovers:", cache.Stats().Failovers)
	// Output:
	// pw from eu-west-1 - failovers: 1
}
