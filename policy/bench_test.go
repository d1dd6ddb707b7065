package policy_test

import (
	"testing"

	"github.com/rekeyhq/rekey/policy"
)

// benchSet is a 20-statement policy set in the shape of a real
// cross-account read: 10 identity statements, 8 in the secret's resource
// policy, 2 in the permissions boundary, with wildcards, NotAction,
// conditions of several operators and a policy variable.
const (
	benchIdentity = `{"Version": "2012-10-17", "Statement": [
		{"Sid": "S3", "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": ["arn:aws:s3:::app-data", "arn:aws:s3:::app-data/*"]},
		{"Sid": "Logs", "Effect": "Allow", "Action": "logs:*", "Resource": "arn:aws:logs:*:444455556666:log-group:/app/*"},
		{"Sid": "Dynamo", "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query"], "Resource": "arn:aws:dynamodb:us-east-1:444455556666:table/app-*"},
		{"Sid": "Home", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "arn:aws:secretsmanager:*:*:secret:home/${aws:PrincipalTag/team}/*"},
		{"Sid": "Describe", "Effect": "Allow", "Action": ["secretsmanager:DescribeSecret", "secretsmanager:ListSecrets"], "Resource": "*"},
		{"Sid": "ReadProd", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-??????",
		 "Condition": {"StringEquals": {"aws:PrincipalTag/team": ["payments", "billing"]}, "Bool": {"aws:SecureTransport": "true"}}},
		{"Sid": "Key", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:us-east-1:111122223333:key/*",
		 "Condition": {"StringLike": {"kms:ViaService": "secretsmanager.*.amazonaws.com"}}},
		{"Sid": "NoAdmin", "Effect": "Deny", "Action": "secretsmanager:*", "Resource": "arn:aws:secretsmanager:*:*:secret:admin/*"},
		{"Sid": "NoWrites", "Effect": "Deny", "NotAction": ["secretsmanager:Get*", "secretsmanager:Describe*", "secretsmanager:List*", "kms:Decrypt", "s3:Get*", "s3:List*", "logs:*", "dynamodb:*"], "Resource": "*"},
		{"Sid": "Region", "Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]}}}
	]}`
	benchResource = `{"Version": "2012-10-17", "Statement": [
		{"Sid": "Admins", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/admin"}, "Action": "secretsmanager:*", "Resource": "*"},
		{"Sid": "Rotation", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/rotator"}, "Action": ["secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"], "Resource": "*"},
		{"Sid": "Rds", "Effect": "Allow", "Principal": {"Service": "rds.amazonaws.com"}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
		{"Sid": "Org", "Effect": "Allow", "Principal": "*", "Action": "secretsmanager:DescribeSecret", "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}},
		{"Sid": "Readers", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::444455556666:role/reader", "arn:aws:iam::777788889999:role/reader"]}, "Action": "secretsmanager:GetSecretValue", "Resource": "*",
		 "Condition": {"StringEqualsIfExists": {"secretsmanager:VersionStage": "AWSCURRENT"}, "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/reader"}}},
		{"Sid": "TLS", "Effect": "Deny", "Principal": "*", "Action": "secretsmanager:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
		{"Sid": "NoDelete", "Effect": "Deny", "Principal": "*", "Action": ["secretsmanager:DeleteSecret", "secretsmanager:PutResourcePolicy"], "Resource": "*",
		 "Condition": {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/admin"}}},
		{"Sid": "Network", "Effect": "Deny", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
		 "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "203.0.113.0/24"]}, "StringNotEqualsIfExists": {"aws:SourceVpce": "vpce-1a2b3c4d"}}}
	]}`
	benchBoundary = `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": ["secretsmanager:Get*", "secretsmanager:Describe*", "kms:Decrypt", "s3:*", "logs:*", "dynamodb:*"], "Resource": "*"},
		{"Effect": "Deny", "Action": "iam:*", "Resource": "*"}
	]}`
)

func benchCase(tb testing.TB) (policy.Request, policy.Policies) {
	tb.Helper()
	req := policy.Request{
		Principal: "arn:aws:sts::444455556666:assumed-role/reader/ci-1234",
		Action:    "secretsmanager:GetSecretValue",
		Resource:  "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf",
		Context: map[string][]string{
			"aws:PrincipalTag/team": {"payments"}, "aws:SecureTransport": {"true"}, "aws:RequestedRegion": {"us-east-1"},
			"aws:SourceIp": {"10.1.2.3"}, "aws:PrincipalOrgID": {"o-abc123"},
		},
	}
	p := policy.Policies{
		Identity: []*policy.Document{policy.MustParse(benchIdentity)},
		Resource: policy.MustParse(benchResource),
		Boundary: policy.MustParse(benchBoundary),
	}
	if got := policy.Evaluate(req, p); got.Decision != policy.Allowed {
		tb.Fatalf("bench case is %v: %v", got.Decision, got.Reasons)
	}
	return req, p
}

// BenchmarkEvaluate measures one decision over the 20-statement set; the
// parse/… baseline re-parses the documents for every request, as an
// evaluator without compiled patterns would.
func BenchmarkEvaluate(b *testing.B) {
	b.Run("20stmt/cross-account/allowed", func(b *testing.B) {
		req, p := benchCase(b)
		b.ReportAllocs()
		for b.Loop() {
			policy.Evaluate(req, p)
		}
	})
	b.Run("20stmt/cross-account/denied", func(b *testing.B) {
		req, p := benchCase(b)
		req.Context = map[string][]string{"aws:SecureTransport": {"true"}, "aws:RequestedRegion": {"us-east-1"}}
		b.ReportAllocs()
		for b.Loop() {
			policy.Evaluate(req, p)
		}
	})
	b.Run("20stmt/same-account", func(b *testing.B) {
		req, p := benchCase(b)
		req.Principal = "arn:aws:iam::111122223333:role/admin"
		b.ReportAllocs()
		for b.Loop() {
			policy.Evaluate(req, p)
		}
	})
	b.Run("20stmt/parallel", func(b *testing.B) {
		req, p := benchCase(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				policy.Evaluate(req, p)
			}
		})
	})
	b.Run("20stmt/baseline-parse-each-request", func(b *testing.B) {
		req, _ := benchCase(b)
		b.ReportAllocs()
		for b.Loop() {
			p := policy.Policies{
				Identity: []*policy.Document{policy.MustParse(benchIdentity)},
				Resource: policy.MustParse(benchResource),
				Boundary: policy.MustParse(benchBoundary),
			}
			policy.Evaluate(req, p)
		}
	})
}

func BenchmarkCheckGetSecretValue(b *testing.B) {
	req, p := benchCase(b)
	a := policy.SecretAccess{
		Caller: req.Principal, CallerPolicies: p.Identity, CallerBoundary: p.Boundary,
		Secret: req.Resource, SecretPolicy: p.Resource,
		KeyARN: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", KeyManager: policy.KeyManagerCustomer,
		KeyPolicy: policy.MustParse(`{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
			{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"secretsmanager.us-east-1.amazonaws.com"}}}]}`),
		Context: req.Context,
	}
	if r := policy.CheckGetSecretValue(a); !r.Allowed {
		b.Fatalf("bench access denied:\n%s", r)
	}
	b.ReportAllocs()
	for b.Loop() {
		policy.CheckGetSecretValue(a)
	}
}

func BenchmarkParse(b *testing.B) {
	data := []byte(benchResource)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := policy.Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
