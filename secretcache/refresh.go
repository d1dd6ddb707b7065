package secretcache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
)

// refresh fetches e and publishes the result. st is the state the fetch
// starts from (nil for a first fetch).
//
// Versions are immutable, so a refresh only has to learn which version the
// stage points to: with a value cached it asks DescribeSecret (which also
// says whether a rotation is in progress and when the next is due) and
// calls GetSecretValue only for a version it has not cached. A first
// fetch, a version entry, and a secret whose DescribeSecret is denied use
// GetSecretValue alone.
func (c *Cache) refresh(ctx context.Context, e *entry, st *state) (*Secret, error) {
	id, sel := e.id(), e.sel()
	var old *Secret
	if st != nil {
		old = st.sec
	}
	if e.has(flagByVersion) {
		in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionId: aws.String(sel)}
		sec, err := c.getValue(ctx, id, in)
		if err != nil {
			return c.fail(e, st, "GetSecretValue", err)
		}
		c.publish(e, &state{sec: sec, fetched: c.now(), fresh: never})
		return sec, nil
	}
	if old == nil || e.has(flagDenied) {
		return c.refreshByValue(ctx, e, st)
	}

	c.callsDescribe.Add(1)
	d, err := c.client.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	if err != nil {
		var api smithy.APIError
		if errors.As(err, &api) && api.ErrorCode() == "AccessDeniedException" {
			if e.flags.Or(flagDenied)&flagDenied == 0 {
				c.log(slog.LevelWarn, "secretcache: DescribeSecret denied; refreshing this secret with GetSecretValue only, without rotation awareness",
					slog.String("secret_id", id), slog.String("stage", sel))
			}
			return c.refreshByValue(ctx, e, st)
		}
		return c.fail(e, st, "DescribeSecret", err)
	}

	current, pending := "", false
	for v, stages := range d.VersionIdsToStages {
		if slices.Contains(stages, StageCurrent) {
			current = v
		}
	}
	version := ""
	for v, stages := range d.VersionIdsToStages {
		if slices.Contains(stages, sel) {
			version = v
		}
		if v != current && slices.Contains(stages, StagePending) {
			pending = true
		}
	}
	if version == "" {
		// The stage is gone (e.g. AWSPENDING after a rotation finished):
		// an answer, not an outage, so the old value is dropped.
		nf := &types.ResourceNotFoundException{Message: aws.String("no version of the secret has staging label " + sel)}
		return c.fail(e, nil, "DescribeSecret", nf)
	}

	stages := d.VersionIdsToStages[version]
	var sec *Secret
	switch {
	case version == old.versionID:
		sec = old.withStages(stages)
	default:
		if cached := c.findVersion(e, st, version); cached != nil {
			sec = cached.withStages(stages)
		} else {
			in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionId: aws.String(version)}
			if sec, err = c.getValue(ctx, id, in); err != nil {
				return c.fail(e, st, "GetSecretValue", err)
			}
		}
	}

	now := c.now()
	fresh := now + c.jitter(c.opts.TTL)
	if pending {
		fresh = min(fresh, now+int64(c.opts.RotationPollInterval))
	}
	if d.NextRotationDate != nil {
		if next := c.at(*d.NextRotationDate); next > now {
			fresh = min(fresh, next)
		}
	}
	return c.succeed(e, st, sec, now, fresh, pending)
}

// refreshByValue refreshes e with GetSecretValue on its stage.
func (c *Cache) refreshByValue(ctx context.Context, e *entry, st *state) (*Secret, error) {
	id := e.id()
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionStage: aws.String(e.sel())}
	sec, err := c.getValue(ctx, id, in)
	if err != nil {
		return c.fail(e, st, "GetSecretValue", err)
	}
	if st != nil && st.sec != nil && st.sec.versionID == sec.versionID {
		sec = st.sec.withStages(sec.stages) // keep the shared pointer stable
	}
	now := c.now()
	return c.succeed(e, st, sec, now, now+c.jitter(c.opts.TTL), false)
}

// succeed publishes a good result and reports a moved AWSCURRENT.
func (c *Cache) succeed(e *entry, st *state, sec *Secret, now, fresh int64, pending bool) (*Secret, error) {
	ns := &state{sec: sec, fetched: now, fresh: fresh, pending: pending}
	var old *Secret
	if st != nil {
		old, ns.prev = st.sec, st.prev
	}
	changed := old != nil && old.versionID != sec.versionID
	if changed {
		ns.prev = old
	}
	c.publish(e, ns)
	c.refreshes.Add(1)
	if changed && e.sel() == StageCurrent && !e.has(flagByVersion) && c.opts.OnChange != nil {
		if err := c.notify(e.id(), old.versionID, sec.versionID); err != nil {
			return sec, err
		}
	}
	return sec, nil
}

// notify calls OnChange, turning a panic into an error for the waiters.
func (c *Cache) notify(id, oldVersion, newVersion string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("secretcache: OnChange for secret %q panicked: %v\n%s", id, r, debug.Stack())
			c.log(slog.LevelError, "secretcache: OnChange panicked", slog.String("secret_id", id), slog.Any("panic", r))
		}
	}()
	c.opts.OnChange(id, oldVersion, newVersion)
	return nil
}

// fail records a failed fetch: the last good value (if st has one) stays
// servable until TTL+MaxStale, and no API call is made for the backoff.
func (c *Cache) fail(e *entry, st *state, op string, err error) (*Secret, error) {
	fe := &FetchError{SecretID: e.id(), Op: op, Err: err}
	now := c.now()
	ns := &state{err: fe, fails: 1}
	if st != nil {
		ns.sec, ns.prev, ns.fetched, ns.fresh, ns.pending = st.sec, st.prev, st.fetched, st.fresh, st.pending
		ns.fails = st.fails + 1
	}
	ns.retry = now + c.backoff(ns.fails)
	c.publish(e, ns)
	c.errors.Add(1)
	c.log(slog.LevelWarn, "secretcache: fetch failed", slog.String("secret_id", e.id()), slog.String("stage", e.sel()),
		slog.String("op", op), slog.Int("consecutive_failures", int(ns.fails)), slog.Bool("serving_stale", ns.sec != nil), slog.Any("error", err))
	return nil, fe
}

func (c *Cache) publish(e *entry, st *state) { e.st.Store(st) }

// findVersion looks for an already cached copy of version among the
// entries of e's secret likely to hold it: e's previous value (rollback),
// the pending and previous stages (a finished rotation), the version's
// own entry and AWSCURRENT.
func (c *Cache) findVersion(e *entry, st *state, version string) *Secret {
	if st != nil && st.prev != nil && st.prev.versionID == version {
		return st.prev
	}
	id := e.id()
	for _, key := range []string{id + sepStage + StagePending, id + sepVersion + version, id, id + sepStage + StagePrevious} {
		o := c.ix.load(key)
		if o == nil || o == e {
			continue
		}
		if ost := o.st.Load(); ost != nil {
			for _, s := range []*Secret{ost.sec, ost.prev} {
				if s != nil && s.versionID == version {
					return s
				}
			}
		}
	}
	return nil
}

// getValue calls GetSecretValue and converts the result.
func (c *Cache) getValue(ctx context.Context, id string, in *secretsmanager.GetSecretValueInput) (*Secret, error) {
	c.callsGet.Add(1)
	out, err := c.client.GetSecretValue(ctx, in)
	if err != nil {
		return nil, err
	}
	return newSecret(id, out.ARN, out.Name, out.VersionId, out.CreatedDate, out.VersionStages, out.SecretString, out.SecretBinary)
}

// newSecret builds a Secret from an API answer. Metadata strings equal to
// the id or to a well-known stage share their memory.
func newSecret(id string, arn, name, versionID *string, created *time.Time, stages []string, text *string, bin []byte) (*Secret, error) {
	s := &Secret{arn: aws.ToString(arn), name: aws.ToString(name), versionID: aws.ToString(versionID), stages: internStages(stages)}
	if s.name == id {
		s.name = id
	}
	if created != nil {
		s.created = *created
	}
	switch {
	case text != nil:
		s.value = *text
	case bin != nil:
		s.value, s.binary = string(bin), true
	}
	if len(s.value) > MaxValueSize {
		return nil, fmt.Errorf("%w: got %d bytes", ErrValueTooLarge, len(s.value))
	}
	return s, nil
}

func internStages(stages []string) []string {
	out := make([]string, len(stages))
	for i, s := range stages {
		switch s {
		case StageCurrent:
			out[i] = StageCurrent
		case StagePrevious:
			out[i] = StagePrevious
		case StagePending:
			out[i] = StagePending
		default:
			out[i] = s
		}
	}
	return out
}

// withStages returns s with its stages replaced, or s itself if they are
// equal. The value is shared, not copied.
func (s *Secret) withStages(stages []string) *Secret {
	if slices.Equal(s.stages, stages) {
		return s
	}
	n := *s
	n.stages = internStages(stages)
	return &n
}

func (c *Cache) log(level slog.Level, msg string, attrs ...slog.Attr) {
	if c.opts.Logger != nil {
		c.opts.Logger.LogAttrs(context.Background(), level, msg, attrs...)
	}
}
