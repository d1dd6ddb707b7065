package dbretry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"golang.org/x/sync/singleflight"

	"github.com/rekeyhq/rekey/secretcache"
)

// Source hands out the credentials of one database secret for new
// connections, and finds working ones after an authentication failure.
// It is safe for concurrent use; any number of pools may share one.
//
// Normally it returns the secret's AWSCURRENT version as the cache holds
// it. After a refused login (see Connect) it re-reads the secret, and
// hands out what it finds instead, a newer AWSCURRENT or, if AWSCURRENT has
// not changed, the AWSPENDING version, until the cache's AWSCURRENT moves
// to any other version than the refused one (at its next refresh).
type Source struct {
	cache *secretcache.Cache
	id    string
	opts  Options

	cur      atomic.Pointer[handout]  // parsed AWSCURRENT, reused while its version is current
	override atomic.Pointer[override] // set by reread; cleared by Credentials once AWSCURRENT moves
	last     atomic.Pointer[handout]  // the credentials last returned, to detect a switch

	group singleflight.Group // rereads, keyed by the refused version id

	mu       sync.Mutex
	rereadAt map[string]time.Time // guarded by mu; when each refused version was last re-read

	authFailures, rereads, switches, exhausted atomic.Uint64
}

// handout is credentials as handed out, with the stage they were read as.
// It is immutable once published.
type handout struct {
	creds Credentials
	stage string
}

// override replaces AWSCURRENT while the cache still says shadowed.
type override struct {
	shadowed string
	h        *handout
}

// NewSource returns a Source for the secret secretID read through c. It
// makes no API call. It panics if c is nil or secretID is empty: those are
// programming errors. The Source does not own c; the caller closes it.
func NewSource(c *secretcache.Cache, secretID string, optFns ...func(*Options)) *Source {
	if c == nil {
		panic("dbretry: NewSource with a nil *secretcache.Cache")
	}
	if secretID == "" {
		panic("dbretry: NewSource with an empty secret id")
	}
	o := DefaultOptions()
	for _, fn := range optFns {
		fn(&o)
	}
	o.resolve()
	return &Source{cache: c, id: secretID, opts: o, rereadAt: make(map[string]time.Time)}
}

// SecretID returns the secret id the Source reads.
func (s *Source) SecretID() string { return s.id }

// Credentials returns the credentials a new connection should use: those
// of the AWSCURRENT version the cache holds, or of the version found after
// that one was refused (see Source). When the cache holds a
// fresh value it makes no API call, takes no lock and does not allocate.
// Errors reading or parsing the secret start with "dbretry:" and wrap the
// cache's error (e.g. a *secretcache.FetchError).
func (s *Source) Credentials(ctx context.Context) (Credentials, error) {
	sec, err := s.cache.Get(ctx, s.id)
	if err != nil {
		return Credentials{}, fmt.Errorf("dbretry: reading secret %q: %w", s.id, err)
	}
	var h *handout
	if o := s.override.Load(); o != nil && o.shadowed == sec.VersionID() {
		h = o.h
	} else {
		if o != nil && s.override.CompareAndSwap(o, nil) {
			s.log(slog.LevelInfo, "dbretry: the cache's AWSCURRENT moved; using it again",
				slog.String("override_version", o.h.creds.VersionID), slog.String("current_version", sec.VersionID()))
		}
		if h = s.cur.Load(); h == nil || h.creds.VersionID != sec.VersionID() {
			c, err := ParseCredentials(sec)
			if err != nil {
				return Credentials{}, err
			}
			h = &handout{creds: c, stage: secretcache.StageCurrent}
			s.cur.Store(h)
		}
	}
	if prev := s.last.Load(); prev != h && s.last.CompareAndSwap(prev, h) && prev != nil && prev.creds.VersionID != h.creds.VersionID {
		if err := s.switched(prev, h); err != nil {
			return Credentials{}, err
		}
	}
	return h.creds, nil
}

// switched reports a change of the version handed out.
func (s *Source) switched(from, to *handout) (err error) {
	s.switches.Add(1)
	s.log(slog.LevelInfo, "dbretry: switched credentials",
		slog.String("from_version", from.creds.VersionID), slog.String("to_version", to.creds.VersionID), slog.String("stage", to.stage))
	if s.opts.OnSwitch == nil {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			s.log(slog.LevelError, "dbretry: OnSwitch panicked", slog.Any("panic", r))
			err = fmt.Errorf("dbretry: OnSwitch for secret %q panicked: %v\n%s", s.id, r, debug.Stack())
		}
	}()
	s.opts.OnSwitch(s.id, from.creds.VersionID, to.creds.VersionID, to.stage)
	return nil
}

// login identifies the credentials a refused connect used.
type login struct {
	user, password string
	known          bool // false: unknown, assume the ones Credentials returns
}

func (l login) matches(c Credentials) bool {
	return !l.known || (l.user == c.Username && l.password == c.Password)
}

// versionOf returns the version id of the credentials l used, if the
// Source handed them out recently; "" otherwise.
func (s *Source) versionOf(l login) string {
	hs := []*handout{s.last.Load(), s.cur.Load()}
	if o := s.override.Load(); o != nil {
		hs = append(hs, o.h)
	}
	for _, h := range hs {
		if h != nil && l.matches(h.creds) {
			return h.creds.VersionID
		}
	}
	return ""
}

// recover is called after a connect with l was refused. It reports
// whether Credentials now returns other credentials, so that the next
// attempt need not wait. Only when l is what Credentials returns does it
// re-read the secret, once for all concurrent callers; each caller stops
// waiting when its ctx ends, while the re-read goes on for the others on
// a goroutine of its own. That goroutine only waits for the cache's
// reads, so it ends with them: within the cache's FetchTimeout per read,
// at once when the cache is closed.
func (s *Source) recover(ctx context.Context, l login) bool {
	cur, err := s.Credentials(ctx)
	if err != nil {
		return false
	}
	if !l.matches(cur) {
		return true // another connect already moved on
	}
	refused := cur.VersionID
	ch := s.group.DoChan(refused, func() (any, error) {
		// Detached, so one caller's cancellation never fails the others;
		// bounded by the cache's FetchTimeout per call and by this.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.RetryBudget)
		defer cancel()
		return s.reread(rctx, refused), nil
	})
	select {
	case r := <-ch:
		return r.Val.(bool)
	case <-ctx.Done():
		return false
	}
}

// reread looks for credentials other than the refused version and the
// AWSCURRENT version Credentials sees (refused too, or it would not be
// asked): a newer AWSCURRENT, else (TryPending) an AWSPENDING version.
// What it finds overrides AWSCURRENT in Credentials until the cache's
// AWSCURRENT moves.
//
// It reads the secret afresh under its other id (the ARN when the Source
// has a name, the name when it has the ARN), first dropping that id from
// the cache: a cached AWSPENDING may be left from an earlier rotation.
// The entries under the Source's own id are left alone, so a failed read
// never turns into failed connects. It costs one GetSecretValue when
// AWSCURRENT changed, two when AWSPENDING holds the way in, and three
// when there is no AWSPENDING: then AWSCURRENT is read once more, because
// a finishSecret between the two reads moves AWSCURRENT and removes
// AWSPENDING.
func (s *Source) reread(ctx context.Context, refused string) bool {
	if !s.claim(refused) {
		return false
	}
	s.rereads.Add(1)
	s.log(slog.LevelInfo, "dbretry: credentials refused; re-reading the secret", slog.String("version", refused))
	sec, err := s.cache.Get(ctx, s.id)
	if err != nil {
		s.log(slog.LevelWarn, "dbretry: reading AWSCURRENT failed", slog.Any("error", err))
		return false
	}
	alt := sec.ARN()
	if alt == s.id || alt == "" {
		alt = sec.Name()
	}
	bad := func(v string) bool { return v == refused || v == sec.VersionID() }
	fresh := func() (*secretcache.Secret, bool) {
		s.cache.Invalidate(alt)
		cur, err := s.cache.Get(ctx, alt)
		if err != nil {
			s.log(slog.LevelWarn, "dbretry: re-reading AWSCURRENT failed", slog.String("as", alt), slog.Any("error", err))
			return nil, false
		}
		return cur, !bad(cur.VersionID())
	}
	found, stage := (*secretcache.Secret)(nil), secretcache.StageCurrent
	switch cur, moved := fresh(); {
	case moved:
		found = cur
	case cur == nil || !s.opts.TryPending:
	default:
		p, err := s.cache.Get(ctx, alt, secretcache.WithStage(secretcache.StagePending))
		if _, ok := errors.AsType[*types.ResourceNotFoundException](err); ok {
			if cur, moved = fresh(); moved {
				found = cur
				break
			}
		}
		switch {
		case err != nil:
			s.log(slog.LevelWarn, "dbretry: AWSCURRENT refused and no AWSPENDING to try", slog.String("current_version", sec.VersionID()), slog.Any("error", err))
		case bad(p.VersionID()) || p.VersionID() == cur.VersionID():
			s.log(slog.LevelWarn, "dbretry: AWSCURRENT refused and AWSPENDING is no other version", slog.String("current_version", sec.VersionID()))
		default:
			found, stage = p, secretcache.StagePending
		}
	}
	if found == nil {
		return false
	}
	c, err := ParseCredentials(found)
	if err != nil {
		s.log(slog.LevelWarn, "dbretry: "+stage+" is not usable", slog.Any("error", err))
		return false
	}
	s.override.Store(&override{shadowed: sec.VersionID(), h: &handout{creds: c, stage: stage}})
	return true
}

// claim reports whether refused may be re-read now, and records it.
func (s *Source) claim(refused string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if t, ok := s.rereadAt[refused]; ok && now.Sub(t) < minResolveInterval {
		return false
	}
	maps.DeleteFunc(s.rereadAt, func(_ string, t time.Time) bool { return now.Sub(t) >= minResolveInterval })
	s.rereadAt[refused] = now
	return true
}

// Stats is a snapshot of a Source's counters since NewSource.
type Stats struct {
	// AuthFailures counts connect attempts refused with an authentication
	// error.
	AuthFailures uint64
	// Rereads counts re-reads of the secret after a refusal; each costs
	// one or two GetSecretValue calls through the cache.
	Rereads uint64
	// Switches counts changes of the version Credentials returns.
	Switches uint64
	// Exhausted counts connects that failed with a *RetryError.
	Exhausted uint64
}

// Stats returns the Source's counters.
func (s *Source) Stats() Stats {
	return Stats{
		AuthFailures: s.authFailures.Load(),
		Rereads:      s.rereads.Load(),
		Switches:     s.switches.Load(),
		Exhausted:    s.exhausted.Load(),
	}
}

func (s *Source) log(level slog.Level, msg string, attrs ...slog.Attr) {
	if s.opts.Logger != nil {
		s.opts.Logger.LogAttrs(context.Background(), level, msg, append(attrs, slog.String("secret_id", s.id))...)
	}
}
