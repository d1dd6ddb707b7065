package secretcache_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// memClient is an in-memory Client for tests of pure cache logic and for
// benchmarks that must not measure HTTP. Behaviour users rely on is tested
// against awsemu; this fake only serves fixed values.
type memClient struct {
	mu     sync.Mutex
	values map[string]string // by name; version "v1"
	calls  atomic.Int64
	// override, if set, replaces the answer of GetSecretValue.
	override func(name string) (*secretsmanager.GetSecretValueOutput, error)
}

func newMemClient() *memClient { return &memClient{values: map[string]string{}} }

func (m *memClient) set(name, value string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.values[name] = value
}

func arnOf(name string) string {
	return "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + name + "-AbCdEf"
}

func (m *memClient) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	m.calls.Add(1)
	name := aws.ToString(in.SecretId)
	if m.override != nil {
		return m.override(name)
	}
	m.mu.Lock()
	v, ok := m.values[name]
	m.mu.Unlock()
	if !ok {
		return nil, &types.ResourceNotFoundException{Message: aws.String("not found")}
	}
	return &secretsmanager.GetSecretValueOutput{
		ARN: aws.String(arnOf(name)), Name: aws.String(name), VersionId: aws.String(versionOf(v)),
		VersionStages: []string{"AWSCURRENT"}, SecretString: aws.String(v), CreatedDate: aws.Time(time.Unix(1700000000, 0)),
	}, nil
}

// DescribeSecret answers like the service for a secret with one version
// and no rotation, so a refresh learns nothing is pending.
func (m *memClient) DescribeSecret(_ context.Context, in *secretsmanager.DescribeSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	m.calls.Add(1)
	name := aws.ToString(in.SecretId)
	m.mu.Lock()
	v, ok := m.values[name]
	m.mu.Unlock()
	if !ok {
		return nil, &types.ResourceNotFoundException{Message: aws.String("not found")}
	}
	return &secretsmanager.DescribeSecretOutput{ARN: aws.String(arnOf(name)), Name: aws.String(name),
		VersionIdsToStages: map[string][]string{versionOf(v): {"AWSCURRENT"}}}, nil
}

func versionOf(value string) string { return fmt.Sprintf("%036d", len(value)) }

func (m *memClient) BatchGetSecretValue(context.Context, *secretsmanager.BatchGetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.BatchGetSecretValueOutput, error) {
	m.calls.Add(1)
	return nil, fmt.Errorf("memClient: BatchGetSecretValue not implemented")
}
