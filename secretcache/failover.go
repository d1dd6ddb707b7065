package secretcache

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Replica is a Secrets Manager client for a Region the secrets are
// replicated to; see Options.Replicas.
type Replica struct {
	// Region is the replica's Region, e.g. "us-west-2". A secret id that
	// is an ARN is sent to this replica with its Region field replaced by
	// Region; a name is sent as is. Required.
	Region string
	// Client reads the replica Region, e.g. a *secretsmanager.Client
	// configured for Region. Required.
	Client Client
}

// primaryDown is what the cache knows of the primary Region's outage for
// one secret.
type primaryDown struct {
	fails  int32 // consecutive outage failures of the primary
	marked int64 // when the last failure was recorded
	retry  int64 // no primary call before then (one probe per period)
	err    error // the last outage error, reported if every replica fails
}

// failover holds the per-secret primary outage state. It is touched only
// on the fetch path, never on a hit.
type failover struct {
	mu   sync.Mutex
	down map[string]*primaryDown // guarded by mu; by secret id as passed
}

// errPrimarySkipped stands for the primary's error when the primary was
// not called because it is in its outage backoff and no error is known.
var errPrimarySkipped = errors.New("secretcache: primary Region skipped during its outage backoff")

// call runs fn against the primary and, if the primary fails with an
// outage error (see IsOutage) or is in its outage backoff for secret id,
// against each replica in order until one answers. fn gets the client and
// the secret id to send it (for a replica, the ARN translated to its
// Region). Without replicas it is just fn(ctx, c.client, id).
//
// A primary call is bounded by PrimaryTimeout; replica calls by ctx
// alone. An error that is not an outage (a not-found, access denied or
// validation answer) is the primary's authoritative answer and is
// returned at once. If every replica fails, the result unwraps to the
// primary's error only, so that no replica's answer (say a not-found from
// a Region the secret is not replicated to) is taken as authoritative.
func (c *Cache) call(ctx context.Context, id string, fn func(ctx context.Context, cl Client, secretID string) error) error {
	if len(c.opts.Replicas) == 0 {
		return fn(ctx, c.client, id)
	}
	began := c.now()
	perr, try := c.fo.claim(id, began, c)
	if try {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if c.opts.PrimaryTimeout > 0 {
			pctx, cancel = context.WithTimeout(ctx, c.opts.PrimaryTimeout)
		}
		perr = fn(pctx, c.client, id)
		cancel()
		if ctx.Err() != nil {
			return perr // the fetch's own budget ended: no time for a replica
		}
		if perr == nil || !IsOutage(perr) {
			// The primary answered: it is preferred again from now on.
			c.fo.up(id)
			return perr
		}
		c.fo.failed(id, began, perr, c)
	}
	var errs []error
	for _, r := range c.opts.Replicas {
		err := fn(ctx, r.Client, replicaID(id, r.Region))
		if err == nil {
			c.failovers.Add(1)
			c.emit(Event{Kind: EventFailover, SecretID: id, FromRegion: clientRegion(c.client), ToRegion: r.Region, Err: perr})
			c.log(slog.LevelInfo, "secretcache: primary Region unavailable; served by a replica",
				slog.String("secret_id", id), slog.String("region", r.Region), slog.Any("primary_error", perr))
			return nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return &failoverError{primary: perr, replicas: errs}
}

// claim reports whether the primary may be called for secret id now and,
// if not, the primary's last outage error. During an outage it lets one
// call through per backoff period: the first caller after the period
// claims it by pushing the next retry time forward.
func (f *failover) claim(id string, now int64, c *Cache) (error, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.down[id]
	if d == nil {
		return nil, true
	}
	if now < d.retry {
		return d.err, false
	}
	d.retry = after(now, c.primaryBackoff(d.fails))
	return d.err, true
}

// failed records an outage error of a primary call for secret id that
// began at began. Calls that began before the last recorded failure (say
// the concurrent GetSecretValue and DescribeSecret of one first fetch)
// count as one failure.
func (f *failover) failed(id string, began int64, err error, c *Cache) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := c.now()
	d := f.down[id]
	if d == nil {
		if f.down == nil {
			f.down = map[string]*primaryDown{}
		}
		// Bounded like the entries; forgetting a secret costs one more
		// primary attempt for it.
		if len(f.down) >= 4*max(c.opts.MaxEntries, DefaultMaxEntries) {
			for k := range f.down {
				delete(f.down, k)
				break
			}
		}
		d = &primaryDown{}
		f.down[id] = d
	} else if began < d.marked {
		return
	}
	d.fails++
	d.marked, d.err = now, err
	d.retry = after(now, c.primaryBackoff(d.fails))
}

// up forgets the primary outage of secret id.
func (f *failover) up(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.down, id)
}

// primaryBackoff is the wait before the primary is tried again after its
// fails-th consecutive outage failure for a secret: ErrorBackoff doubling
// to MaxErrorBackoff, but never more than the shortest jittered TTL, so
// that the first TTL refresh after the primary recovers goes to it.
func (c *Cache) primaryBackoff(fails int32) int64 {
	d := c.backoff(fails)
	// float64(math.MaxInt64) does not fit back in an int64: compare first.
	if ttl := float64(c.opts.TTL) * (1 - c.opts.Jitter); ttl >= 1 && ttl < float64(d) {
		d = int64(ttl)
	}
	return d
}

// replicaID returns the id to send a replica in region: an ARN with its
// Region field replaced (replica secrets keep the primary's name and
// suffix), or the name as is.
func replicaID(id, region string) string {
	if !strings.HasPrefix(id, "arn:") {
		return id
	}
	f := strings.SplitN(id, ":", 5) // arn, partition, service, region, rest
	if len(f) != 5 {
		return id
	}
	f[3] = region
	return strings.Join(f, ":")
}

// arnRegion returns the Region field of an ARN, or "" if s is not one. It
// does not allocate.
func arnRegion(s string) string {
	rest, ok := strings.CutPrefix(s, "arn:")
	if !ok {
		return ""
	}
	for range 2 { // partition, service
		if _, rest, ok = strings.Cut(rest, ":"); !ok {
			return ""
		}
	}
	region, _, ok := strings.Cut(rest, ":")
	if !ok {
		return ""
	}
	return region
}

// failoverError reports that the primary failed with an outage error (or
// was in its outage backoff) and no replica answered. It unwraps to the
// primary's error only.
type failoverError struct {
	primary  error
	replicas []error
}

func (e *failoverError) Error() string {
	var b strings.Builder
	b.WriteString("primary Region: ")
	if e.primary != nil {
		b.WriteString(e.primary.Error())
	}
	for i, err := range e.replicas {
		if i == 0 {
			b.WriteString("; replicas: ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

func (e *failoverError) Unwrap() error {
	if e.primary == nil {
		return errPrimarySkipped
	}
	return e.primary
}

// throttlingCodes are the error codes AWS SDKs treat as throttling.
var throttlingCodes = map[string]bool{
	"ThrottlingException":       true,
	"Throttling":                true,
	"ThrottledException":        true,
	"RequestThrottledException": true,
	"TooManyRequestsException":  true,
	"RequestLimitExceeded":      true,
	"RequestThrottled":          true,
	"SlowDown":                  true,
	"PriorRequestNotComplete":   true,
}

// IsOutage reports whether err, returned by a Secrets Manager call, means
// the Region could not answer, so that a replica Region may: the cache
// fails over on exactly these errors. They are, found with errors.As and
// errors.Is through any wrapping:
//
//   - a deadline: context.DeadlineExceeded (Options.PrimaryTimeout, the
//     SDK's own timeouts), or a net.Error whose Timeout is true;
//   - a failure to send the request or read its answer: a
//     *smithyhttp.RequestSendError (connection refused or reset, DNS
//     failure), a *net.OpError or *net.DNSError, ECONNREFUSED,
//     ECONNRESET, io.EOF or io.ErrUnexpectedEOF;
//   - an HTTP 5xx answer (InternalServiceError, 502, 503, 504);
//   - throttling (ThrottlingException and the other codes the SDK
//     retries as throttling, or HTTP 429), which reaches the cache only
//     after the SDK's own retries.
//
// Every other API answer is not an outage: AccessDeniedException,
// ResourceNotFoundException, DecryptionFailure, InvalidParameterException,
// InvalidRequestException, validation errors and any other 4xx error are
// the service's answer about the secret and fail the read as without
// replicas. context.Canceled is not an outage either: someone gave up.
func IsOutage(err error) bool {
	if err == nil {
		return false
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		if throttlingCodes[api.ErrorCode()] {
			return true
		}
		var status interface{ HTTPStatusCode() int }
		if errors.As(err, &status) {
			return status.HTTPStatusCode() >= 500 || status.HTTPStatusCode() == 429
		}
		return api.ErrorFault() == smithy.FaultServer
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	var send *smithyhttp.RequestSendError
	var netErr net.Error
	var opErr *net.OpError
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &send), errors.As(err, &opErr), errors.As(err, &dnsErr):
		return true
	case errors.As(err, &netErr) && netErr.Timeout():
		return true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		return status.HTTPStatusCode() >= 500 || status.HTTPStatusCode() == 429
	}
	return false
}

// clientRegion returns the Region of an SDK client, or "" for a client
// that does not say (a wrapper of the caller's).
func clientRegion(cl Client) string {
	if o, ok := cl.(interface{ Options() secretsmanager.Options }); ok {
		return o.Options().Region
	}
	return ""
}
