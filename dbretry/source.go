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

	"github.com/rekeyhq/rekey/secretcache"
)

// ErrClosed is wrapped by the *RetryError of a connect refused after the
// Source was closed: a closed Source no longer re-reads its secret.
var ErrClosed = errors.New("dbretry: source is closed")

// Source hands out the credentials of one database secret for new
// connections, and finds working ones after an authentication failure.
// It is safe for concurrent use; any number of pools may share one.
//
// Normally it returns the secret's AWSCURRENT version as the cache holds
// it. After a refused login (see Connect) it re-reads the secret with
// Cache.Refresh, which updates the cache's own entries: if AWSCURRENT
// moved, Credentials returns the new version from then on. If it did not
// and Options.TryPending is set, the Source hands out the AWSPENDING
// version instead, as long as the cache's AWSCURRENT is the version it
// replaced and until that one is refused too: then, if the re-read finds
// nothing newer, the Source goes back to AWSCURRENT.
//
// A re-read runs on a goroutine of the Source, shared by every connect
// refused with the same credentials; Close waits for it.
type Source struct {
	cache *secretcache.Cache
	id    string
	opts  Options

	cur      atomic.Pointer[handout]  // parsed AWSCURRENT, reused while its version is current
	override atomic.Pointer[override] // set by reread; cleared once AWSCURRENT moves or it is refused
	last     atomic.Pointer[handout]  // the credentials last returned, to detect a switch

	done   context.Context // parent of every re-read; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // re-reads in flight

	mu       sync.Mutex
	closed   bool                 // guarded by mu
	flights  map[string]*flight   // guarded by mu; re-reads in flight, by refused version
	rereadAt map[string]time.Time // guarded by mu; when each refused version was last re-read

	authFailures, rereads, switches, exhausted atomic.Uint64
}

// handout is credentials as handed out, with the stage they were read as.
// It is immutable once published.
type handout struct {
	creds Credentials
	stage string
}

// override replaces AWSCURRENT while the cache's AWSCURRENT is shadowed.
type override struct {
	shadowed string
	h        *handout
}

// flight is one re-read, shared by the connects refused with one version.
type flight struct {
	done  chan struct{} // closed once found is set
	found bool
}

// NewSource returns a Source for the secret secretID read through c. It
// returns an error, whose message starts with "dbretry: ", if c is nil,
// secretID is empty or the options are invalid (see Options). It makes no
// API call and starts no goroutine. The Source does not own c; the caller
// closes c after closing the Source.
func NewSource(c *secretcache.Cache, secretID string, optFns ...func(*Options)) (*Source, error) {
	if c == nil {
		return nil, errors.New("dbretry: NewSource with a nil *secretcache.Cache")
	}
	if secretID == "" {
		return nil, errors.New("dbretry: NewSource with an empty secret id")
	}
	o := DefaultOptions()
	for _, fn := range optFns {
		fn(&o)
	}
	if err := o.resolve(); err != nil {
		return nil, err
	}
	s := &Source{cache: c, id: secretID, opts: o, flights: make(map[string]*flight), rereadAt: make(map[string]time.Time)}
	s.done, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// errNotMade is returned by a Source that NewSource did not make (a nil or
// zero one), whose use would otherwise panic.
var errNotMade = errors.New("dbretry: the Source was not made by NewSource")

// check refuses a Source that NewSource did not make.
func (s *Source) check() error {
	if s == nil || s.cache == nil {
		return errNotMade
	}
	return nil
}

// SecretID returns the secret id the Source reads.
func (s *Source) SecretID() string { return s.id }

// Close stops the Source's re-reads in flight and waits for their
// goroutines to end. Connects waiting for a re-read stop waiting; a
// connect refused after Close fails at once with a *RetryError wrapping
// ErrClosed. Credentials keeps working: it only reads the cache. Closing
// a Pool or a *sql.DB does not close their Source; close it after them,
// and before the cache. Close is idempotent and always returns nil; on a
// Source that NewSource did not make (nil or zero) it does nothing.
func (s *Source) Close() error {
	if s.check() != nil {
		return nil
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

func (s *Source) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Credentials returns the credentials a new connection should use: those
// of the AWSCURRENT version the cache holds, or of the AWSPENDING version
// found after that one was refused (see Source). When the cache holds a
// fresh value it makes no API call, takes no lock and does not allocate.
// Errors reading or parsing the secret start with "dbretry:" and wrap the
// cache's error (e.g. a *secretcache.FetchError). A Source that NewSource
// did not make (nil or zero) returns an error instead of panicking.
func (s *Source) Credentials(ctx context.Context) (Credentials, error) {
	if err := s.check(); err != nil {
		return Credentials{}, err
	}
	h, err := s.current(ctx)
	if err != nil {
		return Credentials{}, err
	}
	if prev := s.last.Load(); prev != h {
		switch {
		case prev == nil || prev.creds.VersionID == h.creds.VersionID:
			s.last.CompareAndSwap(prev, h)
		case s.confirm(ctx, h) && s.last.CompareAndSwap(prev, h):
			s.switched(prev, h)
		}
	}
	return h.creds, nil
}

// current returns what Credentials hands out for the cache's current
// view of the secret.
func (s *Source) current(ctx context.Context) (*handout, error) {
	sec, err := s.cache.Get(ctx, s.id)
	if err != nil {
		return nil, fmt.Errorf("dbretry: reading secret %q: %w", s.id, err)
	}
	if o := s.override.Load(); o != nil && o.shadowed == sec.VersionID() {
		return o.h, nil
	} else if o != nil && s.override.CompareAndSwap(o, nil) {
		s.log(slog.LevelInfo, "dbretry: the cache's AWSCURRENT moved; using it again",
			slog.String("override_version", o.h.creds.VersionID), slog.String("current_version", sec.VersionID()))
	}
	if h := s.cur.Load(); h != nil && h.creds.VersionID == sec.VersionID() {
		return h, nil
	}
	c, err := ParseCredentials(sec)
	if err != nil {
		return nil, err
	}
	h := &handout{creds: c, stage: secretcache.StageCurrent}
	s.cur.Store(h)
	return h, nil
}

// confirm reports whether h, about to replace the credentials last handed
// out, is still what the cache says. A caller whose cache read straddled
// the publication of a new version holds the old one; without this check
// it would switch back to it and report two switches for one.
func (s *Source) confirm(ctx context.Context, h *handout) bool {
	again, err := s.current(ctx)
	return err == nil && again.creds.VersionID == h.creds.VersionID
}

// switched reports a change of the version handed out. A panic in
// OnSwitch is logged with its stack and otherwise ignored: a hook must
// not fail a connect.
func (s *Source) switched(from, to *handout) {
	s.switches.Add(1)
	s.emit(Event{Kind: EventCredentialSwitch, SecretID: s.id, FromVersionID: from.creds.VersionID, VersionID: to.creds.VersionID, Stage: to.stage})
	s.log(slog.LevelInfo, "dbretry: switched credentials",
		slog.String("from_version", from.creds.VersionID), slog.String("to_version", to.creds.VersionID), slog.String("stage", to.stage))
	if s.opts.OnSwitch == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			s.log(slog.LevelError, "dbretry: OnSwitch panicked", slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
		}
	}()
	s.opts.OnSwitch(s.id, from.creds.VersionID, to.creds.VersionID, to.stage)
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
// re-read the secret, once for all concurrent callers and at most once
// per RereadInterval for the same version. Each caller stops waiting when
// its ctx ends, while the re-read goes on for the others on a goroutine
// that Close cancels and waits for; it keeps ctx's values (e.g. tracing)
// but not its cancellation, and is bounded by RetryBudget.
func (s *Source) recover(ctx context.Context, l login) bool {
	cur, err := s.Credentials(ctx)
	if err != nil {
		return false
	}
	if !l.matches(cur) {
		return true // another connect already moved on
	}
	refused := cur.VersionID
	o := s.override.Load()
	if o != nil && o.h.creds.VersionID != refused {
		o = nil
	}
	s.mu.Lock()
	f := s.flights[refused]
	if f == nil {
		if s.closed || !s.claim(refused) {
			s.mu.Unlock()
			return false
		}
		f = &flight{done: make(chan struct{})}
		s.flights[refused] = f
		s.wg.Add(1)
		go s.run(context.WithoutCancel(ctx), refused, o, f)
	}
	s.mu.Unlock()
	select {
	case <-f.done:
		return f.found
	case <-ctx.Done():
		return false
	}
}

// run is the goroutine of one re-read.
func (s *Source) run(parent context.Context, refused string, o *override, f *flight) {
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(parent, s.opts.RetryBudget)
	defer cancel()
	stop := context.AfterFunc(s.done, cancel)
	defer stop()
	f.found = s.reread(ctx, refused, o)
	s.mu.Lock()
	delete(s.flights, refused)
	s.mu.Unlock()
	close(f.done)
}

// reread looks for credentials other than the refused version, which is
// either the cache's AWSCURRENT or, when o is not nil, the AWSPENDING
// version of override o. It calls Cache.Refresh (one DescribeSecret, plus
// one GetSecretValue if AWSCURRENT moved to a version the cache does not
// hold). If AWSCURRENT moved to a version not yet tried, the cache now
// holds it and Credentials returns it. Otherwise, with TryPending, it
// reads AWSPENDING (no API call if that version is cached, else one
// GetSecretValue) and hands it out if it is yet another version. If it
// finds nothing, it drops o, so that the next attempt uses AWSCURRENT.
// It never invalidates the cache: a failed re-read leaves every cached
// value as it was.
func (s *Source) reread(ctx context.Context, refused string, o *override) bool {
	s.rereads.Add(1)
	s.log(slog.LevelInfo, "dbretry: credentials refused; re-reading the secret", slog.String("version", refused))
	sec, err := s.cache.Refresh(ctx, s.id)
	if err != nil {
		s.log(slog.LevelWarn, "dbretry: re-reading the secret failed", slog.Any("error", err))
		s.drop(o)
		return false
	}
	tried := refused
	if o != nil {
		tried = o.shadowed
	}
	if v := sec.VersionID(); v != refused && v != tried {
		s.log(slog.LevelInfo, "dbretry: AWSCURRENT moved", slog.String("current_version", v))
		return true
	}
	if s.opts.TryPending {
		p, err := s.cache.Get(ctx, s.id, secretcache.WithStage(secretcache.StagePending))
		switch {
		case err != nil:
			level := slog.LevelWarn
			if errors.As(err, new(*types.ResourceNotFoundException)) {
				level = slog.LevelInfo
			}
			s.log(level, "dbretry: AWSCURRENT refused and no AWSPENDING to try", slog.String("current_version", sec.VersionID()), slog.Any("error", err))
		case p.VersionID() == refused || p.VersionID() == sec.VersionID():
			s.log(slog.LevelInfo, "dbretry: AWSCURRENT refused and AWSPENDING is no other version", slog.String("current_version", sec.VersionID()))
		default:
			c, err := ParseCredentials(p)
			if err != nil {
				s.log(slog.LevelWarn, "dbretry: AWSPENDING is not usable", slog.Any("error", err))
				break
			}
			s.override.Store(&override{shadowed: sec.VersionID(), h: &handout{creds: c, stage: secretcache.StagePending}})
			return true
		}
	}
	s.drop(o)
	return false
}

// drop stops handing out o, the override whose version was refused.
func (s *Source) drop(o *override) {
	if o != nil && s.override.CompareAndSwap(o, nil) {
		s.log(slog.LevelInfo, "dbretry: AWSPENDING refused and nothing newer; using AWSCURRENT again",
			slog.String("refused_version", o.h.creds.VersionID), slog.String("current_version", o.shadowed))
	}
}

// claim reports whether refused may be re-read now, and records it. The
// caller holds mu.
func (s *Source) claim(refused string) bool {
	if s.opts.RereadInterval <= 0 {
		return true
	}
	now := s.opts.clock()
	if t, ok := s.rereadAt[refused]; ok && now.Sub(t) < s.opts.RereadInterval {
		return false
	}
	maps.DeleteFunc(s.rereadAt, func(_ string, t time.Time) bool { return now.Sub(t) >= s.opts.RereadInterval })
	s.rereadAt[refused] = now
	return true
}

// Stats is a snapshot of a Source's counters since NewSource.
type Stats struct {
	// AuthFailures counts connect attempts refused with an authentication
	// error.
	AuthFailures uint64
	// Rereads counts re-reads of the secret after a refusal: at most one
	// per refused version per Options.RereadInterval, shared by all the
	// connects refused with it. Each costs, through the cache, one
	// DescribeSecret (Cache.Refresh), plus one GetSecretValue if
	// AWSCURRENT moved to a version the cache does not hold, plus, when
	// AWSCURRENT did not move to an untried version and TryPending is
	// set, one GetSecretValue for AWSPENDING unless the cache holds that
	// version: one to three calls, two in a single-user window.
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
