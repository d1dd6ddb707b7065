package secretcachetest

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/internal/awsemu"
)

// Identity of the emulated account when Options leave it empty.
const (
	DefaultRegion    = "us-east-1"
	DefaultAccountID = "123456789012"
)

// Options configure a Server.
type Options struct {
	// Region is the Region in ARNs and in the clients' configuration.
	// Default DefaultRegion ("us-east-1").
	Region string
	// AccountID is the 12-digit account that owns every secret and KMS key
	// of the Server. Default DefaultAccountID ("123456789012").
	AccountID string
	// Seed seeds the random source that decides which requests a Fault
	// with a Probability applies to, so a test sees the same requests fail
	// on every run. Default 1; 0 also means 1.
	Seed uint64
	// EnforceIAM makes the Server authorize every Secrets Manager and KMS
	// request as AWS does: the caller is the principal AddPrincipal gave
	// the access key id the request is signed with, and the decision
	// weighs its identity policies, the secret's resource policy and the
	// KMS key policy (package github.com/rekeyhq/rekey/policy evaluates
	// them). A denied request is answered with AccessDeniedException, one
	// signed with an unknown key with UnrecognizedClientException. Client
	// and AWSConfig sign as the account's root user.
	// Default false: every request is allowed, whatever any policy says.
	EnforceIAM bool
	// ReplicationDelay is how long, by the Server's clock, a change to a
	// primary secret takes to reach its replicas in other Regions (see
	// [Server.ClientFor]); it may be changed later with
	// [Server.SetReplicationDelay]. Default 0: a change reaches the
	// replicas within the request that made it.
	ReplicationDelay time.Duration
}

var (
	accountPattern = regexp.MustCompile(`^\d{12}$`)
	regionPattern  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
)

// Server is a running Secrets Manager and KMS emulator listening on a
// loopback port. Its methods are safe for concurrent use.
type Server struct {
	emu       *awsemu.Server
	closeOnce sync.Once
}

// NewServer starts a Server for a test and closes it when the test and its
// subtests end (tb.Cleanup). It fails the test with tb.Fatal if the Server
// cannot start or an option is invalid.
func NewServer(tb testing.TB, optFns ...func(*Options)) *Server {
	tb.Helper()
	s, err := Start(optFns...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() }) //nolint:errcheck // Close reports nothing a test could act on
	return s
}

// Start starts a Server on a random 127.0.0.1 port, for use outside tests
// (a TestMain, a local development server). The caller must Close it. It
// returns an error when Options.AccountID is not 12 digits, Options.Region
// does not look like a Region ("eu-west-1"), or no port can be listened on.
func Start(optFns ...func(*Options)) (*Server, error) {
	o := Options{Region: DefaultRegion, AccountID: DefaultAccountID, Seed: 1}
	for _, fn := range optFns {
		fn(&o)
	}
	if !accountPattern.MatchString(o.AccountID) {
		return nil, fmt.Errorf("secretcachetest: account id %q: want 12 digits", o.AccountID)
	}
	if !regionPattern.MatchString(o.Region) {
		return nil, fmt.Errorf("secretcachetest: region %q: want a Region name such as us-east-1", o.Region)
	}
	if o.ReplicationDelay < 0 {
		return nil, fmt.Errorf("secretcachetest: negative ReplicationDelay %v", o.ReplicationDelay)
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	emu, err := awsemu.Start(func(eo *awsemu.Options) {
		eo.Region = o.Region
		eo.AccountID = o.AccountID
		eo.Seed = o.Seed
		eo.EnforceIAM = o.EnforceIAM
		eo.ReplicationDelay = o.ReplicationDelay
	})
	if err != nil {
		return nil, rename(err)
	}
	return &Server{emu: emu}, nil
}

// Close stops the Server: it cancels the context of running rotation
// functions and of requests held by a Fault, drops open connections, and
// waits (at most 5 s) for in-flight requests and rotation functions to
// return, so no goroutine of the Server outlives it. Later requests fail.
// Close is idempotent; the returned error is always nil today and exists so
// that Close satisfies io.Closer.
func (s *Server) Close() error {
	s.closeOnce.Do(s.emu.Close)
	return nil
}

// ServeHTTP answers one Secrets Manager or KMS request (awsJson1_1: POST
// with an X-Amz-Target header), exactly as the Server's own listener does,
// so the Server can also be served on another listener, such as a fixed
// port for clients not written in Go (see examples/emulator of this
// module). After Close it answers 503 ServiceUnavailable.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.emu.ServeHTTP(w, r) }

// URL returns the Server's base URL, e.g. "http://127.0.0.1:41234": the
// endpoint to give any AWS SDK or the AWS CLI (--endpoint-url).
func (s *Server) URL() string { return s.emu.URL }

// Region returns the emulated Region (Options.Region).
func (s *Server) Region() string { return s.emu.Region() }

// AccountID returns the account that owns the Server's secrets and keys
// (Options.AccountID).
func (s *Server) AccountID() string { return s.emu.AccountID() }

// AWSConfig returns an aws.Config for any aws-sdk-go-v2 client of the
// Server: its Region, static credentials (with Options.EnforceIAM, those of
// the root user of AccountID), BaseEndpoint set to URL, and an HTTP client
// the Server closes the idle connections of on Close. Retries are the SDK's
// defaults, as against AWS. Each call returns a new value the caller may
// modify.
func (s *Server) AWSConfig() aws.Config { return s.emu.AWSConfig() }

// AWSConfigAs is AWSConfig signing with accessKeyID, so that with
// Options.EnforceIAM requests act as the principal AddPrincipal gave that
// key. A request signed with a key no AddPrincipal call added is refused
// with UnrecognizedClientException.
func (s *Server) AWSConfigAs(accessKeyID string) aws.Config { return s.emu.AWSConfigAs(accessKeyID) }

// Client returns a Secrets Manager client of the Server built from
// AWSConfig; optFns apply after, as in secretsmanager.NewFromConfig.
func (s *Server) Client(optFns ...func(*secretsmanager.Options)) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(s.AWSConfig(), optFns...)
}

// KMSClient returns a KMS client of the Server built from AWSConfig.
func (s *Server) KMSClient(optFns ...func(*kms.Options)) *kms.Client {
	return kms.NewFromConfig(s.AWSConfig(), optFns...)
}

// ClientAs returns a Secrets Manager client whose requests are signed with
// accessKeyID (see AWSConfigAs).
func (s *Server) ClientAs(accessKeyID string, optFns ...func(*secretsmanager.Options)) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(s.AWSConfigAs(accessKeyID), optFns...)
}

// KMSClientAs returns a KMS client whose requests are signed with
// accessKeyID (see AWSConfigAs).
func (s *Server) KMSClientAs(accessKeyID string, optFns ...func(*kms.Options)) *kms.Client {
	return kms.NewFromConfig(s.AWSConfigAs(accessKeyID), optFns...)
}

// AddPrincipal makes requests signed with accessKeyID act as principalARN
// when Options.EnforceIAM is set. identityPolicies are the IAM policy
// documents (JSON) attached to the principal. principalARN is an IAM user
// or role ARN (arn:aws:iam::111122223333:role/app), an assumed-role session
// ARN (arn:aws:sts::111122223333:assumed-role/app/session) or an account's
// root user (arn:aws:iam::111122223333:root), of any account: a principal
// of another account than AccountID is a cross-account caller, which needs
// the secret's resource policy and, for a secret under a customer managed
// key, the key policy to allow it too, and which can never use the AWS
// managed key aws/secretsmanager. Adding a key again replaces its principal
// and policies, so a test can change permissions between steps.
// AddPrincipal returns an error, and changes nothing, when accessKeyID is
// not 1 to 128 letters and digits, principalARN is not one of those forms,
// or a policy does not parse. Without EnforceIAM principals are recorded
// but not consulted.
func (s *Server) AddPrincipal(accessKeyID, principalARN string, identityPolicies ...string) error {
	return rename(s.emu.AddPrincipal(accessKeyID, principalARN, identityPolicies...))
}

// TagPrincipal sets the tags of the principal of accessKeyID, which its
// requests carry as aws:PrincipalTag/<key> condition keys, replacing any it
// had; AddPrincipal for the same key clears them. It returns an error when
// no AddPrincipal call added accessKeyID.
func (s *Server) TagPrincipal(accessKeyID string, tags map[string]string) error {
	return rename(s.emu.TagPrincipal(accessKeyID, tags))
}

// SetPermissionsBoundary sets the permissions boundary of the principal of
// accessKeyID to the IAM policy document boundaryPolicy (JSON), which caps
// what its identity policies, and resource policies naming its role, can
// allow; "" removes it, and so does AddPrincipal for the same key. It
// returns an error, and changes nothing, when no AddPrincipal call added
// accessKeyID or the policy does not parse.
func (s *Server) SetPermissionsBoundary(accessKeyID, boundaryPolicy string) error {
	return rename(s.emu.SetPermissionsBoundary(accessKeyID, boundaryPolicy))
}

// SetSCPs makes scps, IAM policy documents (JSON), the service control
// policies over accountID, one document per level of its organization
// (root, each OU, the account): with Options.EnforceIAM a request of any
// principal of accountID is allowed only if every one of them allows it.
// No scps: the account is governed by none, the default. It returns an
// error, and changes nothing, when accountID is not 12 digits or a policy
// does not parse.
func (s *Server) SetSCPs(accountID string, scps ...string) error {
	return rename(s.emu.SetSCPs(accountID, scps...))
}

// SetClock sets the Server's source of the current time: creation, access
// and rotation dates, deletion windows and rotation schedules all read it.
// nil restores time.Now.
func (s *Server) SetClock(now func() time.Time) { s.emu.SetClock(now) }

// Calls returns how many requests for op ("GetSecretValue",
// "DescribeSecret", "Decrypt", ...) the Server has received since it
// started or since ResetCalls, including requests answered by a Fault and
// requests IAM denied. An SDK retry counts again.
func (s *Server) Calls(op string) int64 { return s.emu.Calls(op) }

// TotalCalls returns the number of requests received for all operations,
// counted as Calls counts them.
func (s *Server) TotalCalls() int64 { return s.emu.TotalCalls() }

// ResetCalls sets every counter of Calls and TotalCalls back to zero.
func (s *Server) ResetCalls() { s.emu.ResetCalls() }

// AWSConfigFor is AWSConfig for clients of another Region of the Server.
// One Server serves every Region at one URL: the Region a request is signed
// for selects the Region's own secrets and KMS keys, so a secret created
// with AddReplicaRegions is readable, read-only, through a client of each
// replica Region.
func (s *Server) AWSConfigFor(region string) aws.Config { return s.emu.AWSConfigFor(region) }

// ClientFor returns a Secrets Manager client of the Server for region,
// e.g. a replica for secretcache.Options.Replicas.
func (s *Server) ClientFor(region string, optFns ...func(*secretsmanager.Options)) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(s.emu.AWSConfigFor(region), optFns...)
}

// CallsIn returns how many requests for op ("GetSecretValue", ...) were
// signed for region, SDK retries included.
func (s *Server) CallsIn(region, op string) int64 { return s.emu.CallsIn(region, op) }

// SetReplicationDelay changes Options.ReplicationDelay for changes made
// from now on; changes already on their way keep their order.
func (s *Server) SetReplicationDelay(d time.Duration) { s.emu.SetReplicationDelay(d) }

// Fault makes the Server misbehave for matching requests; see InjectFault.
type Fault struct {
	// Op is the operation the fault applies to ("GetSecretValue",
	// "Decrypt", ...); empty matches every operation.
	Op string
	// Region limits the fault to requests signed for that Region (see
	// AWSConfigFor); empty matches every Region. A fault with Region and
	// no Op simulates a Regional outage.
	Region string
	// Code is the AWS error code to answer with, e.g. "ThrottlingException"
	// (which the SDK retries) or "InternalServiceError". Empty: after Delay
	// (or Hang) the request is served normally.
	Code string
	// Message is the error message; empty uses a generic one for Code.
	Message string
	// Status is the HTTP status of the error; 0 means 400, or 500 for
	// "InternalServiceError" and "InternalFailure".
	Status int
	// Times is how many matching requests the fault applies to (an SDK
	// retry is a request); 0 or less means every matching request until
	// ClearFaults.
	Times int
	// Delay is slept before answering; the sleep ends early when the
	// client gives up.
	Delay time.Duration
	// Hang holds the request until the client gives up (its context ends or
	// it closes the connection); no answer is sent.
	Hang bool
	// Reset closes the TCP connection without answering.
	Reset bool
	// Probability, when in (0,1), applies the fault to that fraction of
	// matching requests, drawn from the random source Options.Seed seeds.
	// A request the draw skips does not use up Times.
	Probability float64
	// After serves the request first, committing its effect, and then
	// applies the fault to the reply: Code replaces the real answer with
	// that error, Reset drops the connection instead of answering, Hang
	// withholds the answer until the client gives up, and Delay (with no
	// Code, Reset or Hang) sends the real answer late. It simulates a reply
	// lost after the service acted, the case ClientRequestToken exists for.
	After bool
}

// InjectFault adds f. Faults are matched in the order injected; the first
// that applies to a request is used, and a fault whose Times are used up is
// removed.
func (s *Server) InjectFault(f Fault) {
	// The conversion compiles only while the two structs have the same
	// fields, so this type cannot drift from the emulator's.
	s.emu.InjectFault(awsemu.Fault(f))
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() { s.emu.ClearFaults() }

// RotationFunc is a rotation Lambda function as the Server invokes it: once
// per step ("createSecret", "setSecret", "testSecret", "finishSecret"), with
// the secret's ARN and the rotation's ClientRequestToken, like the event
// Secrets Manager sends a Lambda function. It may call the Server back
// through any client; a non-nil error fails the step. ctx ends when the
// Server closes.
type RotationFunc func(ctx context.Context, step, secretID, token string) error

// RegisterRotationFunc makes lambdaARN a rotation function that
// RotateSecret (RotationLambdaARN) and scheduled rotations invoke.
// Registering an ARN again replaces its function. RotateSecret naming an
// ARN nobody registered is answered with AccessDeniedException.
func (s *Server) RegisterRotationFunc(lambdaARN string, fn RotationFunc) {
	s.emu.RegisterRotationFunc(lambdaARN, awsemu.RotationFunc(fn))
}

// RunDueRotations rotates, one after another, every secret whose rotation
// is enabled and whose NextRotationDate is at or before the Server's clock
// (SetClock), as the service's scheduler would; a rotation that failed
// before is re-attempted with its AWSPENDING version's id as the token. It
// returns the joined errors of the rotations that failed. Cancelling ctx
// stops it between rotations. It is how a test makes scheduled rotation
// happen: the Server never rotates on its own. After Close it returns an
// error and runs nothing.
func (s *Server) RunDueRotations(ctx context.Context) error {
	return rename(s.emu.RunDueRotations(ctx))
}
