// Package awsemu is an in-process AWS Secrets Manager and KMS emulator that
// speaks the real awsJson1_1 wire protocol, so tests and examples drive the
// real aws-sdk-go-v2 clients over loopback HTTP.
//
// It is for tests and examples only: no library package imports it outside
// _test.go files.
package awsemu

import (
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
	"github.com/aws/aws-sdk-go-v2/credentials"
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
	// Region is the region in ARNs and in AWSConfig. Default DefaultRegion.
	Region string
	// AccountID is the account that owns every secret and key. Default DefaultAccountID.
	AccountID string
	// Seed seeds the random source used for Fault.Probability. Default 1.
	Seed uint64
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

	clock atomic.Pointer[func() time.Time]

	callsMu sync.RWMutex
	calls   map[string]*atomic.Int64 // guarded by callsMu (the map; counters are atomic)

	faultMu sync.Mutex
	faults  []*Fault   // guarded by faultMu
	rng     *rand.Rand // guarded by faultMu

	rotMu     sync.RWMutex
	rotations map[string]RotationFunc // guarded by rotMu; by Lambda ARN

	sm  *secretsManager
	kms *keyService

	requestSeq atomic.Uint64
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
		URL:       "http://" + ln.Addr().String(),
		region:    o.Region,
		accountID: o.AccountID,
		listener:  ln,
		calls:     make(map[string]*atomic.Int64),
		rng:       rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)),
		rotations: make(map[string]RotationFunc),
	}
	now := time.Now
	s.clock.Store(&now)
	s.kms = newKeyService(s)
	s.sm = newSecretsManager(s)
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.http.Serve(ln) //nolint:errcheck // returns ErrServerClosed on Close
	return s, nil
}

// Close stops the server and drops open connections. It is idempotent.
func (s *Server) Close() {
	s.closed.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := s.http.Shutdown(ctx); err != nil {
			s.http.Close()
		}
	})
}

// Region returns the emulated region.
func (s *Server) Region() string { return s.region }

// AccountID returns the emulated account id.
func (s *Server) AccountID() string { return s.accountID }

// AWSConfig returns an aws.Config for clients of this server: its region,
// static credentials and BaseEndpoint set to URL. Retries are the SDK's
// defaults, as against real AWS.
func (s *Server) AWSConfig() aws.Config {
	return aws.Config{
		Region:       s.region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIAAWSEMU0000000000", "awsemu-secret-access-key", ""),
		BaseEndpoint: aws.String(s.URL),
	}
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

// Calls returns how many requests for op the server has received, counting
// requests answered with an injected fault.
func (s *Server) Calls(op string) int64 {
	s.callsMu.RLock()
	c := s.calls[op]
	s.callsMu.RUnlock()
	if c == nil {
		return 0
	}
	return c.Load()
}

// TotalCalls returns the number of requests received for all operations.
func (s *Server) TotalCalls() int64 {
	s.callsMu.RLock()
	defer s.callsMu.RUnlock()
	var n int64
	for _, c := range s.calls {
		n += c.Load()
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
func (s *Server) takeFault(op string) (Fault, bool) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	for i, f := range s.faults {
		if f.Op != "" && f.Op != op {
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
	if f, ok := s.takeFault(op); ok {
		if !s.applyFault(w, r, f) {
			return
		}
	}
	if len(body) > maxRequestBody {
		s.writeError(w, &apiError{Status: http.StatusRequestEntityTooLarge, Code: "SerializationException", Message: "Request body too large."})
		return
	}
	var out any
	switch service {
	case "secretsmanager":
		out, err = s.sm.handle(r.Context(), op, body)
	case "TrentService":
		out, err = s.kms.handle(r.Context(), op, body)
	default:
		err = &apiError{Status: http.StatusBadRequest, Code: "UnknownOperationException", Message: "Unknown service " + service + "."}
	}
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = &apiError{Status: http.StatusInternalServerError, Code: "InternalServiceError", Message: err.Error()}
		}
		s.writeError(w, ae)
		return
	}
	if out == nil {
		out = struct{}{}
	}
	payload, err := json.Marshal(out)
	if err != nil {
		s.writeError(w, &apiError{Status: http.StatusInternalServerError, Code: "InternalServiceError", Message: "awsemu: encoding response: " + err.Error()})
		return
	}
	s.writeJSON(w, http.StatusOK, payload)
}

// writeJSON sends one complete awsJson1_1 response. Like AWS it sets
// Content-Length rather than streaming a chunked body.
func (s *Server) writeJSON(w http.ResponseWriter, status int, payload []byte) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("Content-Length", strconv.Itoa(len(payload)))
	w.Header().Set("X-Amzn-RequestId", s.requestID())
	w.WriteHeader(status)
	w.Write(payload) //nolint:errcheck // client may have gone
}

// applyFault carries out f and reports whether the request should then be
// served normally.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f Fault) bool {
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return false
		}
	}
	if f.Hang {
		<-r.Context().Done()
		return false
	}
	if f.Reset {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					tc.SetLinger(0) //nolint:errcheck // best effort RST
				}
				conn.Close()
			}
		}
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

func (s *Server) writeError(w http.ResponseWriter, e *apiError) {
	payload, _ := json.Marshal(map[string]string{"__type": e.Code, "Message": e.Message}) // strings always encode
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	s.writeJSON(w, e.Status, payload)
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
