package awsemu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/rekeyhq/rekey/policy"
)

// Default identity of an emulated account.
const (
	DefaultRegion    = "us-east-1"
	DefaultAccountID = "123456789012"
)

// maxRequestBody bounds what one request may send; a 64 KiB secret value
// base64-encoded in JSON stays well below it.
const maxRequestBody = 1 << 20

// Options configure a Server.
type Options struct {
	// Region is the default Region: the one AWSConfig's clients use and
	// the one that serves requests not signed for a Region. Default
	// DefaultRegion.
	Region string
	// AccountID is the account that owns every secret and key. Default DefaultAccountID.
	AccountID string
	// Seed seeds the random source used for Fault.Probability. Default 1.
	Seed uint64
	// EnforceIAM makes the server authorize every Secrets Manager and KMS
	// request as AWS does, with package policy: the caller is the
	// principal AddPrincipal gave the access key id the request is signed
	// with (AWSConfig's key is the root user of AccountID), and a request
	// with an unknown key is refused with UnrecognizedClientException.
	// TagPrincipal, SetPermissionsBoundary and SetSCPs add what else AWS
	// weighs; the package documentation lists what is not modelled.
	// Default false: every request is allowed, whatever any policy says.
	EnforceIAM bool
	// ReplicationDelay is how long, by the server's clock, a change to a
	// primary secret takes to reach its replicas; zero replicates within
	// the request that made the change. See [Server.SetReplicationDelay].
	ReplicationDelay time.Duration
}

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL of the emulator, e.g. "http://127.0.0.1:41234".
	URL string

	region    string
	accountID string

	listener net.Listener
	http     *http.Server
	closed   sync.Once

	// transport carries every client AWSConfig builds, so they share
	// connections and Close can drop the idle ones.
	transport *http.Transport

	// life ends when Close starts: rotations and held requests derive
	// their contexts from it. inflight counts handlers and rotations so
	// Close can wait for them; begin refuses new work once closing is set,
	// so inflight.Add never races inflight.Wait.
	lifeMu   sync.Mutex
	life     context.Context    // guarded by lifeMu; created on first use
	stop     context.CancelFunc // guarded by lifeMu
	closing  bool               // guarded by lifeMu
	inflight sync.WaitGroup

	clock atomic.Pointer[func() time.Time]

	callsMu sync.RWMutex
	calls   map[string]*atomic.Int64 // guarded by callsMu (the map; counters are atomic); by op and by regionOp

	faultMu sync.Mutex
	faults  []*Fault   // guarded by faultMu
	rng     *rand.Rand // guarded by faultMu

	rotMu     sync.RWMutex
	rotations map[string]RotationFunc // guarded by rotMu; by Lambda ARN

	// sm and kms serve the default Region; other Regions are in regions.
	// smMu is the one lock of every Region's secret store.
	sm  *secretsManager
	kms *keyService

	smMu     sync.Mutex
	replicas replication // guarded by smMu

	regionMu sync.Mutex
	regions  map[string]*regionState // guarded by regionMu; Regions other than the default

	requestSeq atomic.Uint64

	enforceIAM bool
	iamMu      sync.RWMutex
	principals map[string]*principal         // guarded by iamMu; by access key id
	scps       map[string][]*policy.Document // guarded by iamMu; by account id
	docs       sync.Map                      // policy text -> *policy.Document, parsed once

	// Identifiers tests choose (export_test.go), used before random ones,
	// so that policy documents from fixtures can name resources verbatim.
	idMu        sync.Mutex
	arnSuffixes []string // guarded by idMu
	keyIDs      []string // guarded by idMu
}

// nextARNSuffix returns the six characters ending the next secret's ARN.
func (s *Server) nextARNSuffix() string { return s.nextID(&s.arnSuffixes, arnSuffix) }

// nextKeyID returns the id of the next KMS key created.
func (s *Server) nextKeyID() string { return s.nextID(&s.keyIDs, newKeyID) }

// nextID takes the first identifier of *chosen, or a random one when the
// test chose none.
func (s *Server) nextID(chosen *[]string, random func() string) string {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	if len(*chosen) == 0 {
		return random()
	}
	v := (*chosen)[0]
	*chosen = (*chosen)[1:]
	return v
}

// RotationFunc is a rotation Lambda as the emulator invokes it: once per step
// ("createSecret", "setSecret", "testSecret", "finishSecret") with the secret's
// ARN and the rotation's ClientRequestToken. It may call back into the
// emulator over HTTP; no emulator lock is held while it runs.
type RotationFunc func(ctx context.Context, step, secretID, token string) error

// Fault makes the emulator misbehave for matching requests.
type Fault struct {
	// Op is the operation name the fault applies to ("GetSecretValue",
	// "Decrypt", ...); empty matches every operation.
	Op string
	// Region limits the fault to requests signed for that Region (see
	// [Server.AWSConfigFor]); empty matches every Region. A fault with
	// Region and no Op simulates a Regional outage.
	Region string
	// Code is the AWS error code to answer with, e.g. "ThrottlingException".
	// Empty: after Delay (or Hang) the request is served normally.
	Code string
	// Message is the error message; empty uses a generic one for Code.
	Message string
	// Status is the HTTP status of the error; 0 means 400, or 500 for
	// "InternalServiceError" and "InternalFailure".
	Status int
	// Times is how many matching requests the fault applies to; 0 or less
	// means every matching request until ClearFaults.
	Times int
	// Delay is slept before answering; the sleep ends early when the
	// request's context ends.
	Delay time.Duration
	// Hang holds the request until the client gives up (its context ends or
	// it closes the connection); no answer is sent.
	Hang bool
	// Reset closes the TCP connection without answering.
	Reset bool
	// Probability, when in (0,1), applies the fault to that fraction of
	// matching requests, drawn from the server's seeded random source.
	// A request the draw skips does not use up Times.
	Probability float64
	// After serves the request first, committing its effect, and then
	// applies the fault to the reply: Code replaces the real answer with
	// that error, Reset drops the connection instead of answering, Hang
	// withholds the answer until the client gives up, and Delay (with no
	// Code, Reset or Hang) sends the real answer late. It simulates a reply
	// lost after the service acted, the case ClientRequestToken exists for:
	// a retry with the same token must then be a no-op.
	After bool
}

// New starts a Server for a test and closes it on t.Cleanup.
func New(t testing.TB, optFns ...func(*Options)) *Server {
	t.Helper()
	s, err := Start(optFns...)
	if err != nil {
		t.Fatalf("awsemu: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start starts a Server on a random loopback port. The caller must Close it.
func Start(optFns ...func(*Options)) (*Server, error) {
	o := Options{Region: DefaultRegion, AccountID: DefaultAccountID, Seed: 1}
	for _, fn := range optFns {
		fn(&o)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("awsemu: listen: %w", err)
	}
	s := &Server{
		URL:        "http://" + ln.Addr().String(),
		region:     o.Region,
		accountID:  o.AccountID,
		listener:   ln,
		calls:      make(map[string]*atomic.Int64),
		rng:        rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)),
		rotations:  make(map[string]RotationFunc),
		transport:  awshttp.NewBuildableClient().GetTransport(),
		enforceIAM: o.EnforceIAM,
		scps:       make(map[string][]*policy.Document),
		principals: map[string]*principal{
			rootAccessKeyID: {arn: "arn:aws:iam::" + o.AccountID + ":root", account: o.AccountID},
		},
	}
	now := time.Now
	s.clock.Store(&now)
	s.kms = newKeyService(s)
	s.sm = newSecretsManager(s)
	s.replicas.delay = o.ReplicationDelay
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.http.Serve(ln) //nolint:errcheck // returns ErrServerClosed on Close
	return s, nil
}

// closeWait bounds how long Close waits for handlers and rotation
// functions that ignore their cancelled context.
const closeWait = 5 * time.Second

// Close stops the server: it cancels the context of every running rotation
// function and held request, drops open connections, and waits (at most
// 5 s) for in-flight handlers and rotations to return. Later requests and
// RunDueRotations calls are refused. It is idempotent.
func (s *Server) Close() {
	s.closed.Do(func() {
		s.lifeMu.Lock()
		s.closing = true
		if s.stop != nil {
			s.stop()
		}
		s.lifeMu.Unlock()
		if s.http != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			if err := s.http.Shutdown(ctx); err != nil {
				s.http.Close()
			}
			cancel()
		}
		s.transport.CloseIdleConnections()
		done := make(chan struct{})
		go func() {
			s.inflight.Wait()
			close(done)
		}()
		t := time.NewTimer(closeWait)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
		}
	})
}

// begin registers one handler or rotation with the server and returns the
// server's lifetime context, or false once Close has started. The caller
// must call s.inflight.Done when it returns.
func (s *Server) begin() (context.Context, bool) {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.closing {
		return nil, false
	}
	if s.life == nil {
		s.life, s.stop = context.WithCancel(context.Background())
	}
	s.inflight.Add(1)
	return s.life, true
}

// errServerClosed answers work that arrives after Close.
func errServerClosed() *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", Message: "awsemu: server closed."}
}

// Region returns the server's default Region (Options.Region).
func (s *Server) Region() string { return s.region }

// AccountID returns the emulated account id.
func (s *Server) AccountID() string { return s.accountID }

// AWSConfig returns an aws.Config for clients of this server: its region,
// static credentials (with Options.EnforceIAM, those of the root user of
// AccountID, unless AddPrincipal gave their access key id
// AKIAAWSEMU0000000000 another principal), BaseEndpoint set to URL and an HTTPClient whose
// requests carry in-memory bodies (see bufferedBodies). Retries are the
// SDK's defaults, as against real AWS.
func (s *Server) AWSConfig() aws.Config { return s.AWSConfigFor(s.region) }

// staticCredentials signs as accessKeyID with a fixed secret key: the
// emulator reads only the key id. It is built on package aws alone, so that
// secretcachetest brings users no SDK module beyond the KMS client.
func staticCredentials(accessKeyID string) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: accessKeyID, SecretAccessKey: "awsemu-secret-access-key", Source: "awsemu"}, nil
	})
}

// AWSConfigFor is AWSConfig for clients of another Region of this server:
// the same URL, credentials and HTTP client, with Region set to region, so
// the SDK signs each request for region and the server serves it from that
// Region's secrets and keys.
func (s *Server) AWSConfigFor(region string) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  staticCredentials(rootAccessKeyID),
		BaseEndpoint: aws.String(s.URL),
		HTTPClient:   &http.Client{Transport: bufferedBodies{s.transport}},
	}
}

// bufferedBodies hands the transport a copy of each request body in memory.
// smithy-go closes the body it built as soon as the response headers
// arrive; net/http's write loop may not yet have made its final read of
// that body, which then fails with io.EOF (smithy's closed body answers
// WriteTo with it), so the transport closes the connection under the
// response body still being read: "use of closed network connection" on
// replies larger than the transport's 4 KiB read buffer. A bytes.Reader
// body is independent of smithy's, and the transport knows it to be in
// memory.
type bufferedBodies struct{ next http.RoundTripper }

func (b bufferedBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return b.next.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close() //nolint:errcheck // a RoundTripper must close the body; its content is read
	if err != nil {
		return nil, fmt.Errorf("awsemu: reading request body: %w", err)
	}
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	return b.next.RoundTrip(r)
}

// SetClock sets the source of the current time: creation and rotation
// dates, deletion windows and rotation schedules all read it. nil restores
// time.Now.
func (s *Server) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	s.clock.Store(&now)
}

func (s *Server) now() time.Time { return (*s.clock.Load())() }

// Calls returns how many requests for op the server has received in every
// Region, counting requests answered with an injected fault.
func (s *Server) Calls(op string) int64 {
	s.callsMu.RLock()
	c := s.calls[op]
	s.callsMu.RUnlock()
	if c == nil {
		return 0
	}
	return c.Load()
}

// TotalCalls returns the number of requests received for all operations
// in every Region.
func (s *Server) TotalCalls() int64 {
	s.callsMu.RLock()
	defer s.callsMu.RUnlock()
	var n int64
	for key, c := range s.calls {
		if !strings.Contains(key, regionOpSep) {
			n += c.Load()
		}
	}
	return n
}

// ResetCalls sets every counter back to zero.
func (s *Server) ResetCalls() {
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	for _, c := range s.calls {
		c.Store(0)
	}
}

func (s *Server) count(op string) {
	s.callsMu.RLock()
	c := s.calls[op]
	s.callsMu.RUnlock()
	if c == nil {
		s.callsMu.Lock()
		if c = s.calls[op]; c == nil {
			c = new(atomic.Int64)
			s.calls[op] = c
		}
		s.callsMu.Unlock()
	}
	c.Add(1)
}

// InjectFault adds a fault. Faults are matched in the order injected; the
// first that applies to a request is used.
func (s *Server) InjectFault(f Fault) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = nil
}

// takeFault returns a copy of the fault that applies to a request for op,
// using up one of its Times.
func (s *Server) takeFault(op, region string) (Fault, bool) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	for i, f := range s.faults {
		if f.Op != "" && f.Op != op || f.Region != "" && f.Region != region {
			continue
		}
		if f.Probability > 0 && f.Probability < 1 && s.rng.Float64() >= f.Probability {
			continue
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return *f, true
	}
	return Fault{}, false
}

// RegisterRotationFunc makes lambdaARN a rotation function that RotateSecret
// can name in RotationLambdaARN.
func (s *Server) RegisterRotationFunc(lambdaARN string, fn RotationFunc) {
	s.rotMu.Lock()
	defer s.rotMu.Unlock()
	s.rotations[lambdaARN] = fn
}

func (s *Server) rotationFunc(lambdaARN string) (RotationFunc, bool) {
	s.rotMu.RLock()
	defer s.rotMu.RUnlock()
	fn, ok := s.rotations[lambdaARN]
	return fn, ok
}

// APIError is an error as the emulated service answers it.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

// ServeHTTP implements the awsJson1_1 protocol: POST / with X-Amz-Target
// "secretsmanager.<Op>" or "TrentService.<Op>".
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	life, ok := s.begin()
	if !ok {
		s.writeError(w, errServerClosed())
		return
	}
	defer s.inflight.Done()
	service, op, ok := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	if r.Method != http.MethodPost || !ok {
		s.writeError(w, &apiError{Status: http.StatusBadRequest, Code: "UnknownOperationException", Message: "Missing or malformed X-Amz-Target header."})
		return
	}
	s.count(op)
	// Read the whole body before any fault: only then does net/http watch
	// the connection, so a client that hangs up ends r.Context() and a
	// Hang or Delay fault ends with it.
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		return // client went away
	}
	region := s.requestRegion(r)
	s.count(regionOp(region, op))
	var call *caller
	if s.enforceIAM {
		var aerr *apiError
		if call, aerr = s.callerOf(r); aerr != nil {
			s.writeError(w, aerr)
			return
		}
	}
	f, faulted := s.takeFault(op, region)
	if faulted && !f.After {
		if !s.applyFault(life, w, r, f) {
			return
		}
	}
	status, payload, code := s.serve(withRegion(r.Context(), region), call, service, op, body)
	if faulted && f.After && !s.applyFault(life, w, r, f) {
		return // the effect is committed; the reply is lost
	}
	s.writeJSON(w, status, payload, code)
}

// serve runs one request and returns the reply to send: its status, body
// and, for an error, its code. caller is the principal making the request,
// nil when IAM is not enforced.
func (s *Server) serve(ctx context.Context, caller *caller, service, op string, body []byte) (int, []byte, string) {
	if len(body) > maxRequestBody {
		return errorReply(&apiError{Status: http.StatusRequestEntityTooLarge, Code: "SerializationException", Message: "Request body too large."})
	}
	var out any
	var err error
	rs := s.regionState(regionOf(ctx))
	if caller != nil {
		out, err = s.authorize(rs, caller, service, op, body)
		ctx = withCaller(ctx, caller)
	}
	switch {
	case err != nil || out != nil:
	case service == "secretsmanager":
		out, err = rs.sm.handle(ctx, op, body)
	case service == "TrentService":
		out, err = rs.kms.handle(ctx, op, body)
	default:
		err = &apiError{Status: http.StatusBadRequest, Code: "UnknownOperationException", Message: "Unknown service " + service + "."}
	}
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = &apiError{Status: http.StatusInternalServerError, Code: "InternalServiceError", Message: err.Error()}
		}
		return errorReply(ae)
	}
	if out == nil {
		out = struct{}{}
	}
	payload, err := json.Marshal(out)
	if err != nil {
		return errorReply(&apiError{Status: http.StatusInternalServerError, Code: "InternalServiceError", Message: "awsemu: encoding response: " + err.Error()})
	}
	return http.StatusOK, payload, ""
}

// writeJSON sends one complete awsJson1_1 response; errCode, when set, is
// also sent as X-Amzn-ErrorType. Like AWS it sets Content-Length rather
// than streaming a chunked body.
func (s *Server) writeJSON(w http.ResponseWriter, status int, payload []byte, errCode string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("Content-Length", strconv.Itoa(len(payload)))
	w.Header().Set("X-Amzn-RequestId", s.requestID())
	if errCode != "" {
		w.Header().Set("X-Amzn-ErrorType", errCode)
	}
	w.WriteHeader(status)
	w.Write(payload) //nolint:errcheck // client may have gone
}

// applyFault carries out f and reports whether the real reply should then
// be sent. Waits end early when the client gives up or the server closes.
func (s *Server) applyFault(life context.Context, w http.ResponseWriter, r *http.Request, f Fault) bool {
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return false
		case <-life.Done():
			t.Stop()
			resetConn(w) // an empty return would send 200 with no body
			return false
		}
	}
	if f.Hang {
		select {
		case <-r.Context().Done():
		case <-life.Done():
			resetConn(w)
		}
		return false
	}
	if f.Reset {
		resetConn(w)
		return false
	}
	if f.Code == "" {
		return true
	}
	status := f.Status
	if status == 0 {
		status = http.StatusBadRequest
		if f.Code == "InternalServiceError" || f.Code == "InternalFailure" {
			status = http.StatusInternalServerError
		}
	}
	msg := f.Message
	if msg == "" {
		msg = "Injected fault: " + f.Code + "."
		if f.Code == "ThrottlingException" {
			msg = "Rate exceeded"
		}
	}
	s.writeError(w, &apiError{Status: status, Code: f.Code, Message: msg})
	return false
}

// resetConn closes the request's TCP connection without an answer.
func resetConn(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetLinger(0) //nolint:errcheck // best effort RST
			}
			conn.Close()
		}
	}
}

func (s *Server) writeError(w http.ResponseWriter, e *apiError) {
	status, payload, code := errorReply(e)
	s.writeJSON(w, status, payload, code)
}

// errorReply renders e as the service sends an error.
func errorReply(e *apiError) (status int, payload []byte, code string) {
	payload, _ = json.Marshal(map[string]string{"__type": e.Code, "Message": e.Message}) // strings always encode
	return e.Status, payload, e.Code
}

func (s *Server) requestID() string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012x", s.requestSeq.Add(1))
}

// decode unmarshals a request body into v, answering malformed input as AWS
// does.
func decode(body []byte, v any) error {
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &apiError{Status: http.StatusBadRequest, Code: "SerializationException", Message: "Malformed request body."}
	}
	return nil
}

// epoch renders a time as awsJson1_1 sends timestamps: seconds since the
// Unix epoch, with fractions.
func epoch(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}
