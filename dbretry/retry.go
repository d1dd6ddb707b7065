package dbretry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Connect calls connect with src's credentials and returns its result.
// While connect fails with an authentication error (IsAuthError), Connect
// finds other credentials as Source describes, without waiting when it
// finds some, and otherwise waits a backoff, then calls connect again,
// until it succeeds, fails otherwise, or Options.RetryBudget has passed
// since the first failure; then it returns a *RetryError wrapping the last
// error. Concurrent refusals of the same credentials share one re-read of
// the secret. After the Source is closed, a refusal is not retried.
//
// connect must only open a connection: it may be called several times, so
// it must not run statements whose effects would then repeat. Errors that
// are not authentication errors, including those of reading the secret,
// are returned unchanged and at once. When ctx ends during a wait, Connect
// returns a *RetryError that also wraps ctx.Err().
//
// A nil src or connect makes Connect return an error at once, without
// calling connect.
//
// Connect is how a driver other than pgx, e.g. MySQL, gets the same
// behaviour; NewPool and OpenDB use it for pgx.
func Connect[T any](ctx context.Context, src *Source, connect func(ctx context.Context, c Credentials) (T, error)) (T, error) {
	if connect == nil {
		var zero T
		return zero, errors.New("dbretry: Connect with a nil connect func")
	}
	if err := src.check(); err != nil {
		var zero T
		return zero, err
	}
	var used login
	try := func() (T, error) {
		c, err := src.Credentials(ctx)
		if err != nil {
			var zero T
			return zero, err
		}
		used = login{user: c.Username, password: c.Password, known: true}
		return connect(ctx, c)
	}
	refused := func(err error) (login, bool) {
		if used.known && IsAuthError(err) {
			return used, true
		}
		return login{}, false
	}
	return retry(ctx, src, try, refused)
}

// retry calls try until it succeeds, fails with an error refused does not
// accept, or the budget ends. refused reports whether an error is an
// authentication failure of a connect, and with which login.
func retry[T any](ctx context.Context, s *Source, try func() (T, error), refused func(error) (login, bool)) (T, error) {
	v, err := try()
	if err == nil {
		return v, nil
	}
	l, ok := refused(err)
	if !ok {
		return v, err
	}
	start := s.opts.clock()
	backoff := s.opts.MinBackoff
	for attempts := 1; ; attempts++ {
		s.authFailures.Add(1)
		if s.opts.OnEvent != nil {
			s.emit(Event{Kind: EventAuthFailure, SecretID: s.id, VersionID: s.versionOf(l), Attempt: attempts, Code: authCode(err), Err: err})
		}
		if s.since(start) >= s.opts.RetryBudget || ctx.Err() != nil || s.isClosed() {
			return v, s.giveUp(ctx, err, l, attempts, start)
		}
		if !s.recover(ctx, l) {
			wait := backoff/2 + time.Duration(s.opts.rand()*float64(backoff/2))
			backoff = min(2*backoff, s.opts.MaxBackoff)
			if !sleep(ctx, min(wait, s.opts.RetryBudget-s.since(start))) {
				return v, s.giveUp(ctx, err, l, attempts, start)
			}
		}
		if v, err = try(); err == nil {
			return v, nil
		}
		if l, ok = refused(err); !ok {
			return v, err
		}
	}
}

// sleep waits for d, or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// since is the time elapsed since t on the Source's clock.
func (s *Source) since(t time.Time) time.Duration { return s.opts.clock().Sub(t) }

func (s *Source) giveUp(ctx context.Context, last error, l login, attempts int, start time.Time) error {
	s.exhausted.Add(1)
	why := ctx.Err()
	if why == nil && s.isClosed() {
		why = ErrClosed
	}
	e := &RetryError{SecretID: s.id, VersionID: s.versionOf(l), Attempts: attempts, Elapsed: s.since(start), Err: last, ctxErr: why}
	s.log(slog.LevelWarn, "dbretry: giving up on authentication failures", slog.String("version", e.VersionID),
		slog.Int("attempts", attempts), slog.Duration("elapsed", e.Elapsed), slog.Any("error", last))
	return e
}

// RetryError reports a connect that was refused on every attempt until the
// retry budget or the caller's context ended. It wraps the last connect
// error, so IsAuthError and errors.As (e.g. to *pgconn.PgError) see
// through it, and ctx.Err() when the context ended (ErrClosed when the
// Source was closed). Its message names the secret and version, never a
// password.
type RetryError struct {
	// SecretID is the secret the credentials came from.
	SecretID string
	// VersionID is the version of the last credentials tried; "" if
	// unknown.
	VersionID string
	// Attempts is the number of connects made.
	Attempts int
	// Elapsed is the time from the first refusal to giving up.
	Elapsed time.Duration
	// Err is the last connect error.
	Err error

	ctxErr error
}

// Error names the secret, the last version tried, the attempts and why
// the retries stopped, then the last connect error; never a password.
func (e *RetryError) Error() string {
	why := "retry budget spent"
	if e.ctxErr != nil {
		why = e.ctxErr.Error()
	}
	return fmt.Sprintf("dbretry: secret %q: login refused on %d attempts in %v (%s; last version tried %q): %v",
		e.SecretID, e.Attempts, e.Elapsed.Round(time.Millisecond), why, e.VersionID, e.Err)
}

// Unwrap returns the last connect error and, if the context ended, its
// error, or ErrClosed if the Source was closed.
func (e *RetryError) Unwrap() []error {
	if e.ctxErr != nil {
		return []error{e.Err, e.ctxErr}
	}
	return []error{e.Err}
}
