package secretcache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
)

// refresh fetches e and publishes the result. st is the state the fetch
// starts from (nil for a first fetch); forced is true for Refresh.
//
// Versions are immutable, so a refresh only has to learn which version the
// stage points to: with a value cached it asks DescribeSecret (which also
// says whether a rotation is in progress and when the next is due) and
// calls GetSecretValue only for a version it has not cached. That answer
// holds every stage of the secret, so it repoints the secret's other
// cached stage entries too (see applyDescribe). A first fetch calls
// GetSecretValue on the stage, alongside it DescribeSecret with
// Options.DescribeOnFirstFetch, or uses a DescribeSecret answer of the
// secret younger than MinRefreshInterval. A version entry and a secret
// whose DescribeSecret is denied use GetSecretValue alone.
func (c *Cache) refresh(ctx context.Context, e *entry, st *state, forced bool) (*Secret, error) {
	id, sel := e.id(), e.sel()
	began := c.now()
	if e.has(flagByVersion) {
		in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionId: aws.String(sel)}
		sec, err := c.getValue(ctx, id, in)
		if err != nil {
			return c.fail(e, began, "GetSecretValue", err)
		}
		return c.succeed(e, st, sec, began, never, false)
	}
	cold := st == nil || st.sec == nil
	switch {
	case cold && !forced, cold && c.isDenied(id):
		return c.firstFetch(ctx, e, st, began)
	case cold:
		// A forced refresh with other stages cached describes first, so
		// that it can repoint them, as Refresh promises; unless an answer
		// recent enough to bound Refresh is known (firstFetch uses it).
		if _, ok := c.recentDescribe(id, began); ok || len(c.stageEntries(e, nil)) == 0 {
			return c.firstFetch(ctx, e, st, began)
		}
	case c.isDenied(id):
		return c.refreshByValue(ctx, e, st, began)
	}

	d, err := c.describe(ctx, id)
	if err != nil {
		if isAccessDenied(err) {
			c.markDenied(id, sel)
			if cold {
				return c.firstFetch(ctx, e, st, began)
			}
			return c.refreshByValue(ctx, e, st, began)
		}
		if isNotFound(err) {
			// The secret is gone: so are all its stages.
			for _, o := range c.stageEntries(e, nil) {
				c.fail(o, began, "DescribeSecret", err)
			}
		}
		return c.fail(e, began, "DescribeSecret", err)
	}
	c.noteDescribe(id, d, began)
	return c.applyDescribe(ctx, e, st, d, began, true)
}

// applyDescribe publishes, on e and on every other cached stage entry of
// its secret, the version that DescribeSecret answer d (begun at began)
// shows for the entry's stage. A stage d does not show is published as a
// not-found failure, dropping its value. A version already cached (in any
// entry of the secret) is reused without an API call. Otherwise e's value
// is fetched by VersionId now, while another entry is only marked moved,
// so that its next read fetches it (one GetSecretValue, which nobody pays
// for a stage nobody reads again). With repoint false the other entries
// only lend their values and e alone is published.
func (c *Cache) applyDescribe(ctx context.Context, e *entry, st *state, d *secretsmanager.DescribeSecretOutput, began int64, repoint bool) (*Secret, error) {
	id := e.id()
	others := c.stageEntries(e, d)
	// Snapshot every state before publishing any, so that a value one
	// entry drops (AWSPENDING after a rotation) can still serve another.
	pool := make([]*Secret, 0, 2+2*len(others))
	if st != nil {
		pool = append(pool, st.value(), st.prev)
	}
	states := make([]*state, len(others))
	for i, o := range others {
		states[i] = o.st.Load()
		if states[i] != nil {
			pool = append(pool, states[i].value(), states[i].prev)
		}
	}
	find := func(version string) *Secret {
		for _, s := range pool {
			if s != nil && s.versionID == version {
				return s
			}
		}
		// A version read with WithVersionID.
		if o := c.ix.load(id + sepVersion + version); o != nil {
			if ost := o.st.Load(); ost != nil && ost.sec != nil {
				return ost.sec
			}
		}
		return nil
	}

	version, pending := stageVersion(d, e.sel())
	var sec *Secret
	var op string
	var err error
	switch cached := find(version); {
	case version == "":
		// The stage is gone (e.g. AWSPENDING after a rotation finished):
		// an answer, not an outage, so fail drops the old value.
		op, err = "DescribeSecret", stageGone(e.sel())
	case cached != nil:
		sec = cached.withStages(d.VersionIdsToStages[version], aws.ToString(d.ARN))
	default:
		in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionId: aws.String(version)}
		if sec, err = c.getValue(ctx, id, in); err != nil {
			op = "GetSecretValue"
		}
	}
	fresh := c.deadline(d, pending, c.now())
	var res *Secret
	if err != nil {
		res, err = c.fail(e, began, op, err)
	} else {
		pool = append(pool, sec)
		res, err = c.succeed(e, st, sec, began, fresh, pending)
	}
	if repoint {
		for i, o := range others {
			c.repoint(o, states[i], d, began, fresh, pending, find)
		}
	}
	return res, err
}

// repoint publishes on o, a stage entry whose state was ost, the version
// DescribeSecret answer d shows for its stage; see applyDescribe.
func (c *Cache) repoint(o *entry, ost *state, d *secretsmanager.DescribeSecretOutput, began, fresh int64, pending bool, find func(string) *Secret) {
	if ost == nil {
		return // its first fetch is under way and will publish its own answer
	}
	version, _ := stageVersion(d, o.sel())
	if version == "" {
		c.fail(o, began, "DescribeSecret", stageGone(o.sel()))
		return
	}
	if cached := find(version); cached != nil {
		c.succeed(o, ost, cached.withStages(d.VersionIdsToStages[version], aws.ToString(d.ARN)), began, fresh, pending)
		return
	}
	old := ost.value()
	ns := &state{prev: old, moved: old != nil, fetched: began, fresh: min(ost.fresh, began), pending: pending}
	// A state published since the snapshot is at least as new; keep it.
	o.st.CompareAndSwap(ost, ns)
}

// stageEntries returns the live stage entries of e's secret other than e:
// those of AWSCURRENT, AWSPENDING, AWSPREVIOUS, of every custom label read
// with WithStage, and of every label in d if d is not nil. It takes the
// index lock, so unlike a lock-free lookup it misses none.
func (c *Cache) stageEntries(e *entry, d *secretsmanager.DescribeSecretOutput) []*entry {
	id := e.id()
	labels := []string{StagePending, StagePrevious}
	c.metaMu.Lock()
	labels = append(labels, c.labels[id]...)
	c.metaMu.Unlock()
	if d != nil {
		for _, stages := range d.VersionIdsToStages {
			labels = append(labels, stages...)
		}
	}
	keys := make([]string, 0, 1+len(labels))
	keys = append(keys, id)
	for _, l := range labels {
		if l == StageCurrent {
			continue
		}
		if k := id + sepStage + l; !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return c.ix.loadLive(keys, e)
}

// stageGone is the error for a stage that no version carries.
func stageGone(stage string) error {
	return &stageGoneError{&types.ResourceNotFoundException{Message: aws.String("no version of the secret has staging label " + stage)}}
}

// stageGoneError is DescribeSecret's answer that no version carries a
// stage. After a rotation removes AWSPENDING that is routine, not a
// failure: fail neither counts it in Stats.Errors nor logs it as one.
// Callers still find *types.ResourceNotFoundException with errors.As.
type stageGoneError struct {
	nf *types.ResourceNotFoundException
}

func (e *stageGoneError) Error() string { return e.nf.Error() }
func (e *stageGoneError) Unwrap() error { return e.nf }

// minRecentCap is the size of Cache.recent at which expired answers are
// first purged.
const minRecentCap = 64

// noteDescribe keeps DescribeSecret answer d, begun at at, for first
// fetches of other stages of secret id during MinRefreshInterval.
func (c *Cache) noteDescribe(id string, d *secretsmanager.DescribeSecretOutput, at int64) {
	if c.opts.MinRefreshInterval <= 0 {
		return
	}
	c.metaMu.Lock()
	defer c.metaMu.Unlock()
	if prev, ok := c.recent[id]; ok && prev.at > at {
		return
	}
	c.recent[id] = described{out: d, at: at}
	if len(c.recent) >= c.recentCap {
		// Amortized: the cap doubles past the live answers.
		now := c.now()
		for k, r := range c.recent {
			if now-r.at >= int64(c.opts.MinRefreshInterval) {
				delete(c.recent, k)
			}
		}
		c.recentCap = max(minRecentCap, 2*len(c.recent))
	}
}

// recentDescribe returns the DescribeSecret answer of secret id begun
// within MinRefreshInterval, if any.
func (c *Cache) recentDescribe(id string, now int64) (described, bool) {
	c.metaMu.Lock()
	defer c.metaMu.Unlock()
	r, ok := c.recent[id]
	if !ok || now-r.at >= int64(c.opts.MinRefreshInterval) {
		return described{}, false
	}
	return r, true
}

// noteLabel records that the custom staging label stage of secret id has
// an entry. AWS labels need no record: stageEntries always looks for them.
func (c *Cache) noteLabel(id, stage string) {
	if stage == StagePending || stage == StagePrevious {
		return
	}
	c.metaMu.Lock()
	defer c.metaMu.Unlock()
	if slices.Contains(c.labels[id], stage) {
		return
	}
	// Bounded like the entries; a forgotten label's entry is still
	// refreshed on its own, just not repointed by its secret's others.
	if _, ok := c.labels[id]; !ok && len(c.labels) >= 4*max(c.opts.MaxEntries, DefaultMaxEntries) {
		for k := range c.labels {
			delete(c.labels, k)
			break
		}
	}
	c.labels[id] = append(c.labels[id], stage)
}

// firstFetch fetches a stage with nothing cached. With a DescribeSecret
// answer of the secret younger than MinRefreshInterval it applies that
// answer to e alone. Otherwise it calls GetSecretValue on the stage and,
// with Options.DescribeOnFirstFetch, concurrently (so that the reader
// waits for one round trip) DescribeSecret for the rotation state; if
// only the DescribeSecret fails, the value is still served, but checked
// again after RotationPollInterval rather than TTL.
func (c *Cache) firstFetch(ctx context.Context, e *entry, st *state, began int64) (*Secret, error) {
	id, sel := e.id(), e.sel()
	if r, ok := c.recentDescribe(id, began); ok {
		return c.applyDescribe(ctx, e, st, r.out, r.at, false)
	}
	var d *secretsmanager.DescribeSecretOutput
	var derr error
	var wg sync.WaitGroup
	describe := c.opts.DescribeOnFirstFetch && !c.isDenied(id)
	if describe {
		wg.Go(func() { d, derr = c.describe(ctx, id) })
	}
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionStage: aws.String(sel)}
	sec, err := c.getValue(ctx, id, in)
	wg.Wait()
	if err != nil {
		return c.fail(e, began, "GetSecretValue", err)
	}
	now := c.now()
	poll := after(now, int64(c.opts.RotationPollInterval))
	fresh, pending := after(now, c.jitter(c.opts.TTL)), false
	switch {
	case !describe:
	case derr == nil:
		c.noteDescribe(id, d, began)
		var version string
		version, pending = stageVersion(d, sel)
		fresh = c.deadline(d, pending, now)
		if version != sec.versionID {
			// The stage moved between the two calls: look again soon.
			fresh = min(fresh, poll)
		}
	case isAccessDenied(derr):
		c.markDenied(id, sel)
	case isNotFound(derr):
		return c.fail(e, began, "DescribeSecret", derr)
	default:
		c.log(slog.LevelWarn, "secretcache: DescribeSecret failed on a first fetch; serving the value and checking the rotation state again soon",
			slog.String("secret_id", id), slog.String("stage", sel), slog.Any("error", derr))
		fresh = min(fresh, poll)
	}
	return c.succeed(e, st, sec, began, fresh, pending)
}

// refreshByValue refreshes e with GetSecretValue on its stage.
func (c *Cache) refreshByValue(ctx context.Context, e *entry, st *state, began int64) (*Secret, error) {
	id := e.id()
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionStage: aws.String(e.sel())}
	sec, err := c.getValue(ctx, id, in)
	if err != nil {
		return c.fail(e, began, "GetSecretValue", err)
	}
	if st != nil && st.sec != nil && st.sec.versionID == sec.versionID {
		sec = st.sec.withStages(sec.stages, sec.arn) // keep the shared pointer stable
	}
	now := c.now()
	return c.succeed(e, st, sec, began, after(now, c.jitter(c.opts.TTL)), false)
}

// describe calls DescribeSecret.
// With Options.Replicas it fails over as described there.
func (c *Cache) describe(ctx context.Context, id string) (*secretsmanager.DescribeSecretOutput, error) {
	var out *secretsmanager.DescribeSecretOutput
	err := c.call(ctx, id, func(ctx context.Context, cl Client, sid string) error {
		c.callsDescribe.Add(1)
		began := c.eventClock()
		var err error
		out, err = cl.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(sid)}, withUserAgent)
		c.emitFetch("DescribeSecret", id, began, err)
		return err
	})
	return out, err
}

// stageVersion returns the version stage points to ("" if none) and
// whether a rotation is in progress: AWSPENDING on a version other than
// AWSCURRENT.
func stageVersion(d *secretsmanager.DescribeSecretOutput, stage string) (version string, pending bool) {
	current := ""
	for v, stages := range d.VersionIdsToStages {
		if slices.Contains(stages, StageCurrent) {
			current = v
		}
	}
	for v, stages := range d.VersionIdsToStages {
		if slices.Contains(stages, stage) {
			version = v
		}
		if v != current && slices.Contains(stages, StagePending) {
			pending = true
		}
	}
	return version, pending
}

// deadline returns when a value checked now by DescribeSecret d must be
// checked again: after TTL, after RotationPollInterval while a rotation is
// in progress, and no later than a NextRotationDate still ahead.
func (c *Cache) deadline(d *secretsmanager.DescribeSecretOutput, pending bool, now int64) int64 {
	fresh := after(now, c.jitter(c.opts.TTL))
	if pending {
		fresh = min(fresh, after(now, int64(c.opts.RotationPollInterval)))
	}
	if d.NextRotationDate != nil {
		if next := c.at(*d.NextRotationDate); next > now {
			fresh = min(fresh, next)
		}
	}
	return fresh
}

func isAccessDenied(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "AccessDeniedException"
}

func isNotFound(err error) bool {
	var nf *types.ResourceNotFoundException
	return errors.As(err, &nf)
}

// isDenied reports whether DescribeSecret was denied for secret id.
func (c *Cache) isDenied(id string) bool {
	c.deniedMu.Lock()
	defer c.deniedMu.Unlock()
	_, ok := c.denied[id]
	return ok
}

// markDenied records that DescribeSecret is denied for secret id, logging
// it the first time.
func (c *Cache) markDenied(id, stage string) {
	c.deniedMu.Lock()
	_, known := c.denied[id]
	if !known {
		// Bounded like the entries; forgetting a secret costs only a
		// second DescribeSecret attempt and log line for it.
		if len(c.denied) >= 4*max(c.opts.MaxEntries, DefaultMaxEntries) {
			for k := range c.denied {
				delete(c.denied, k)
				break
			}
		}
		c.denied[id] = struct{}{}
	}
	c.deniedMu.Unlock()
	if !known {
		c.log(slog.LevelWarn, "secretcache: DescribeSecret denied; refreshing this secret with GetSecretValue only, without rotation awareness",
			slog.String("secret_id", id), slog.String("stage", stage))
	}
}

// succeed publishes sec, fetched by a fetch that began at began from the
// state start, unless a fetch that began later has published meanwhile
// (then that newer value is returned). It queues OnChange when the
// published value moved AWSCURRENT to another version.
func (c *Cache) succeed(e *entry, start *state, sec *Secret, began, fresh int64, pending bool) (*Secret, error) {
	notify := c.opts.OnChange != nil && e.sel() == StageCurrent && !e.has(flagByVersion)
	if notify {
		c.changeMu.Lock()
		defer c.changeMu.Unlock()
	}
	for {
		cur := e.st.Load()
		if cur != nil && cur != start && cur.sec != nil && cur.fetched > began {
			return cur.sec, nil
		}
		ns := &state{sec: sec, fetched: began, fresh: fresh, pending: pending}
		var old *Secret
		if cur != nil {
			old, ns.prev = cur.value(), cur.prev
		}
		changed := old != nil && old.versionID != sec.versionID
		if changed {
			ns.prev = old
		} else if ns.prev != nil && ns.prev.versionID == sec.versionID {
			ns.prev = nil // a moved entry whose stage came back
		}
		if !e.st.CompareAndSwap(cur, ns) {
			continue
		}
		c.refreshes.Add(1)
		if changed && notify {
			c.enqueueLocked(change{id: e.id(), oldVersion: old.versionID, newVersion: sec.versionID})
		}
		return sec, nil
	}
}

// fail records a failed fetch that began at began. A not-found answer is
// authoritative: the cached value is dropped and the error is served
// until the backoff ends. Any other failure keeps the last good value
// (for a moved entry, the value its stage pointed to) servable until
// TTL+MaxStale. Either way no API call is made for the backoff. A value
// published by a fetch that began later is kept as is and returned.
func (c *Cache) fail(e *entry, began int64, op string, err error) (*Secret, error) {
	fe := &FetchError{SecretID: e.id(), Op: op, Err: err}
	drop := isNotFound(err)
	var sg *stageGoneError
	gone := errors.As(err, &sg)
	if !gone {
		c.errors.Add(1)
		c.emit(Event{Kind: EventError, SecretID: e.id(), Stage: e.sel(), Op: op, Err: fe})
	}
	var ns *state
	for {
		cur := e.st.Load()
		if cur != nil && cur.sec != nil && cur.err == nil && cur.fetched > began {
			return cur.sec, nil
		}
		ns = &state{err: fe, fails: 1}
		if cur != nil {
			ns.fails = cur.fails + 1
			if !drop {
				ns.sec, ns.prev, ns.fetched, ns.fresh, ns.pending = cur.sec, cur.prev, cur.fetched, cur.fresh, cur.pending
				if cur.moved {
					// Stale-if-error: the value the stage pointed to.
					ns.sec, ns.prev = cur.prev, nil
				}
			}
		}
		ns.retry = after(c.now(), c.backoff(ns.fails))
		if e.st.CompareAndSwap(cur, ns) {
			break
		}
	}
	if gone {
		c.log(slog.LevelDebug, "secretcache: stage no longer exists; cached value dropped",
			slog.String("secret_id", e.id()), slog.String("stage", e.sel()))
		return nil, fe
	}
	c.log(slog.LevelWarn, "secretcache: fetch failed", slog.String("secret_id", e.id()), slog.String("stage", e.sel()),
		slog.String("op", op), slog.Int("consecutive_failures", int(ns.fails)), slog.Bool("serving_stale", ns.sec != nil),
		slog.Bool("value_dropped", drop), slog.Any("error", err))
	return nil, fe
}

// getValue calls GetSecretValue and converts the result.
// With Options.Replicas it fails over as described there.
func (c *Cache) getValue(ctx context.Context, id string, in *secretsmanager.GetSecretValueInput) (*Secret, error) {
	var out *secretsmanager.GetSecretValueOutput
	err := c.call(ctx, id, func(ctx context.Context, cl Client, sid string) error {
		c.callsGet.Add(1)
		rin := in
		if sid != id {
			cp := *in
			cp.SecretId = aws.String(sid)
			rin = &cp
		}
		began := c.eventClock()
		var err error
		out, err = cl.GetSecretValue(ctx, rin, withUserAgent)
		c.emitFetch("GetSecretValue", id, began, err)
		return err
	})
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

// withStages returns s with its stages replaced, and its ARN if arn is
// not empty (the answer came from another Region), or s itself if they
// are equal. The value is shared, not copied.
func (s *Secret) withStages(stages []string, arn string) *Secret {
	if slices.Equal(s.stages, stages) && (arn == "" || arn == s.arn) {
		return s
	}
	n := *s
	n.stages = internStages(stages)
	if arn != "" {
		n.arn = arn
	}
	return &n
}

func (c *Cache) log(level slog.Level, msg string, attrs ...slog.Attr) {
	if c.opts.Logger != nil {
		c.opts.Logger.LogAttrs(context.Background(), level, msg, attrs...)
	}
}
