package secretcache

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
)

// batchSize is the most secrets one BatchGetSecretValue call may name.
const batchSize = 20

// Prefetch loads the AWSCURRENT versions of those secretIDs not yet cached
// (or cached only as an expired value or error), with one
// BatchGetSecretValue call per 20 ids, so later reads hit. It runs on ctx
// directly, without sharing. Secrets the service could not return are
// reported as *FetchError values, one per id, combined with errors.Join;
// the others are cached regardless. After Close it returns ErrClosed.
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
	in := &secretsmanager.BatchGetSecretValueInput{SecretIdList: ids}
	done := make([]bool, len(ids))
	for {
		c.callsBatch.Add(1)
		out, err := c.client.BatchGetSecretValue(ctx, in)
		if err != nil {
			c.errors.Add(1)
			return append(errs, &FetchError{SecretID: strings.Join(ids, ","), Op: "BatchGetSecretValue", Err: err})
		}
		for _, v := range out.SecretValues {
			i := matchID(ids, aws.ToString(v.Name), aws.ToString(v.ARN))
			if i < 0 || done[i] {
				continue
			}
			done[i] = true
			sec, err := newSecret(ids[i], v.ARN, v.Name, v.VersionId, v.CreatedDate, v.VersionStages, v.SecretString, v.SecretBinary)
			if err != nil {
				errs = append(errs, &FetchError{SecretID: ids[i], Op: "BatchGetSecretValue", Err: err})
				continue
			}
			if err := c.store(ids[i], sec); err != nil {
				return append(errs, err)
			}
		}
		for _, e := range out.Errors {
			errs = append(errs, &FetchError{
				SecretID: aws.ToString(e.SecretId),
				Op:       "BatchGetSecretValue",
				Err:      &smithy.GenericAPIError{Code: aws.ToString(e.ErrorCode), Message: aws.ToString(e.Message)},
			})
		}
		if out.NextToken == nil || *out.NextToken == "" {
			return errs
		}
		in = &secretsmanager.BatchGetSecretValueInput{SecretIdList: ids, NextToken: out.NextToken}
	}
}

// store publishes a prefetched value for id's AWSCURRENT entry unless a
// fresh one is already there.
func (c *Cache) store(id string, sec *Secret) error {
	e, err := c.entry(id, len(id), 0)
	if err != nil {
		return err
	}
	for {
		st := e.st.Load()
		now := c.now()
		if st != nil && st.sec != nil && now < st.fresh {
			return nil
		}
		ns := &state{sec: sec, fetched: now, fresh: now + c.jitter(c.opts.TTL)}
		if st != nil {
			ns.prev = st.sec
		}
		if e.st.CompareAndSwap(st, ns) {
			c.refreshes.Add(1)
			return nil
		}
	}
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
