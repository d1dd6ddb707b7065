package secretcache

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
)

// batchSize is the most secrets one BatchGetSecretValue call may name.
const batchSize = 20

// Prefetch loads the AWSCURRENT versions of those secretIDs not yet cached
// (or cached only as an expired value or error), with one
// BatchGetSecretValue call per 20 ids, so later reads hit. It runs on ctx
// directly, without sharing. A loaded value is published like a refresh's:
// it never replaces a value fetched by a fetch that began later, and a
// moved AWSCURRENT is reported to OnChange. BatchGetSecretValue says
// nothing about rotations, so a secret first loaded by Prefetch during a
// rotation is seen to change at its first refresh, after TTL.
//
// Each secret that could not be loaded is reported as one *FetchError
// naming its id as passed, wrapping the SDK's typed exception where one
// exists (*types.ResourceNotFoundException, *types.DecryptionFailure, ...)
// and a smithy.APIError otherwise; they are combined with errors.Join and
// each counts once in Stats.Errors. A not-found secret's cached value, if
// any, is dropped. Invalid ids are reported without an API call. After
// Close Prefetch returns ErrClosed.
func (c *Cache) Prefetch(ctx context.Context, secretIDs ...string) error {
	if c.closed.Load() {
		return ErrClosed
	}
	var want []string
	var errs []error
	now := c.now()
	for _, id := range secretIDs {
		if err := validID(id); err != nil {
			errs = append(errs, err)
			continue
		}
		if e := c.ix.load(id); e != nil && !e.has(flagDead) {
			if st := e.st.Load(); st != nil && st.sec != nil && now < st.fresh {
				continue
			}
		}
		if !slices.Contains(want, id) {
			want = append(want, id)
		}
	}
	for chunk := range slices.Chunk(want, batchSize) {
		errs = append(errs, c.prefetchChunk(ctx, chunk)...)
	}
	return errors.Join(errs...)
}

func (c *Cache) prefetchChunk(ctx context.Context, ids []string) []error {
	var errs []error
	began := c.now()
	in := &secretsmanager.BatchGetSecretValueInput{SecretIdList: ids}
	done := make([]bool, len(ids))
	for {
		c.callsBatch.Add(1)
		callBegan := c.eventClock()
		out, err := c.client.BatchGetSecretValue(ctx, in, withUserAgent)
		c.emitFetch("BatchGetSecretValue", "", callBegan, err)
		if err != nil {
			for i, id := range ids {
				if !done[i] {
					errs = append(errs, c.prefetchFailed(id, began, err))
				}
			}
			return errs
		}
		for _, v := range out.SecretValues {
			i := matchID(ids, aws.ToString(v.Name), aws.ToString(v.ARN))
			if i < 0 || done[i] {
				continue
			}
			done[i] = true
			sec, err := newSecret(ids[i], v.ARN, v.Name, v.VersionId, v.CreatedDate, v.VersionStages, v.SecretString, v.SecretBinary)
			if err != nil {
				errs = append(errs, c.prefetchFailed(ids[i], began, err))
				continue
			}
			if err := c.store(ids[i], sec, began); err != nil {
				return append(errs, err)
			}
		}
		for _, e := range out.Errors {
			sid := aws.ToString(e.SecretId)
			id := sid
			if i := matchID(ids, sid, sid); i >= 0 {
				if done[i] {
					continue
				}
				done[i], id = true, ids[i]
			}
			errs = append(errs, c.prefetchFailed(id, began, batchError(aws.ToString(e.ErrorCode), aws.ToString(e.Message))))
		}
		if out.NextToken == nil || *out.NextToken == "" {
			break
		}
		in = &secretsmanager.BatchGetSecretValueInput{SecretIdList: ids, NextToken: out.NextToken}
	}
	for i, id := range ids {
		if !done[i] {
			errs = append(errs, c.prefetchFailed(id, began, errors.New("secretcache: missing from the BatchGetSecretValue answer")))
		}
	}
	return errs
}

// prefetchFailed counts and returns the failure to load id. A not-found
// answer drops id's cached value, as a refresh's would.
func (c *Cache) prefetchFailed(id string, began int64, err error) error {
	if isNotFound(err) {
		if e := c.ix.load(id); e != nil && !e.has(flagDead) {
			_, fe := c.fail(e, began, "BatchGetSecretValue", err)
			return fe
		}
	}
	c.errors.Add(1)
	fe := &FetchError{SecretID: id, Op: "BatchGetSecretValue", Err: err}
	c.emit(Event{Kind: EventError, SecretID: id, Stage: StageCurrent, Op: fe.Op, Err: fe})
	return fe
}

// batchError turns a BatchGetSecretValue per-secret error into the typed
// exception GetSecretValue would have returned, so callers match both the
// same way with errors.As.
func batchError(code, message string) error {
	msg := aws.String(message)
	switch code {
	case "ResourceNotFoundException":
		return &types.ResourceNotFoundException{Message: msg}
	case "DecryptionFailure":
		return &types.DecryptionFailure{Message: msg}
	case "InvalidRequestException":
		return &types.InvalidRequestException{Message: msg}
	case "InvalidParameterException":
		return &types.InvalidParameterException{Message: msg}
	case "InternalServiceError":
		return &types.InternalServiceError{Message: msg}
	case "InvalidNextTokenException":
		return &types.InvalidNextTokenException{Message: msg}
	default:
		return &smithy.GenericAPIError{Code: code, Message: message}
	}
}

// store publishes a prefetched value for id's AWSCURRENT entry through the
// refresh path, unless a fresh one is already there. The rotation state is
// carried over: BatchGetSecretValue cannot tell whether it changed.
func (c *Cache) store(id string, sec *Secret, began int64) error {
	e, err := c.entry(id, len(id), 0)
	if err != nil {
		return err
	}
	st := e.st.Load()
	now := c.now()
	if st != nil && st.sec != nil && st.err == nil && now < st.fresh {
		return nil
	}
	fresh, pending := after(now, c.jitter(c.opts.TTL)), false
	if st != nil {
		pending = st.pending
		if st.sec != nil && st.sec.versionID == sec.versionID {
			sec = st.sec.withStages(sec.stages, sec.arn)
		}
	}
	if pending {
		fresh = min(fresh, after(now, int64(c.opts.RotationPollInterval)))
	}
	_, err = c.succeed(e, st, sec, began, fresh, pending)
	return err
}

// matchID returns the index in ids of the id naming a secret: its name,
// its full ARN, or its ARN without the random suffix.
func matchID(ids []string, name, arn string) int {
	for i, id := range ids {
		if id == name || id == arn || (strings.HasPrefix(id, "arn:") && strings.HasPrefix(arn, id+"-")) {
			return i
		}
	}
	return -1
}
