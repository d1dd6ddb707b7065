package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/rekeyhq/rekey/rotation"
)

// SingleUser returns the strategy that changes the password of the one
// user in the secret, as AWS's single-user PostgreSQL rotation function
// does:
//
//   - NewPending copies the current value with the new password.
//   - Apply logs in with the pending credentials and returns if that works;
//     otherwise it logs in with the current, then the previous credentials
//     and runs ALTER ROLE <user> PASSWORD with the pending password's
//     SCRAM-SHA-256 verifier, so the password never appears in a server log.
//   - Verify logs in with the pending credentials and checks current_user.
//
// The user needs no privilege beyond logging in: a role may change its own
// password. Between setSecret and finishSecret the AWSCURRENT credentials no
// longer log in; clients recover by reading AWSPENDING, or use
// AlternatingUsers to avoid the window.
//
// SingleUser returns an error, whose message starts with "postgres: " and
// names the option, if the options are invalid (see Options). It opens no
// connection.
func SingleUser(optFns ...func(*Options)) (rotation.Strategy, error) {
	o, err := newOptions("SingleUser", optFns)
	if err != nil {
		return nil, err
	}
	return &singleUser{opts: o}, nil
}

type singleUser struct {
	opts Options
}

func (s *singleUser) NewPending(_ context.Context, current rotation.Secret, password string) ([]byte, error) {
	d, err := parseSecret(current)
	if err != nil {
		return nil, err
	}
	return d.with(d.username, password)
}

func (s *singleUser) Apply(ctx context.Context, v rotation.Versions) error {
	pending, err := parseSecret(v.Pending)
	if err != nil {
		return err
	}
	current, err := parseSecret(v.Current)
	if err != nil {
		return err
	}
	if pending.username != current.username {
		return fmt.Errorf("postgres: single-user rotation of secret %q: pending username %q differs from current %q", v.Pending.ARN, pending.username, current.username)
	}
	log := s.opts.Logger.With("secretId", v.Pending.ARN, "role", pending.username)
	conn, err := s.opts.connect(ctx, pending, pending.username, pending.password)
	if err == nil {
		closeConn(ctx, conn)
		log.InfoContext(ctx, "postgres: pending credentials already log in; nothing to set")
		return nil
	}
	errs := []error{fmt.Errorf("pending: %w", err)}
	logins := []struct {
		name   string
		secret *rotation.Secret
	}{{"current", &v.Current}, {"previous", v.Previous}}
	for _, l := range logins {
		if l.secret == nil {
			continue
		}
		d, err := parseSecret(*l.secret)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", l.name, err))
			continue
		}
		if conn, err = s.opts.connect(ctx, d, d.username, d.password); err == nil {
			log.InfoContext(ctx, "postgres: logged in to set the pending password", slog.String("with", l.name))
			break
		}
		errs = append(errs, fmt.Errorf("%s: %w", l.name, err))
	}
	if conn == nil {
		return fmt.Errorf("postgres: secret %q: no version's credentials log in to set the password of %q: %w", v.Pending.ARN, pending.username, errors.Join(errs...))
	}
	defer closeConn(ctx, conn)
	return setPassword(ctx, conn, pending.username, pending.password)
}

func (s *singleUser) Verify(ctx context.Context, pending rotation.Secret) error {
	d, err := parseSecret(pending)
	if err != nil {
		return err
	}
	return s.opts.verify(ctx, pending.ARN, d, d.username)
}

// verify logs in with d's credentials and checks that the session acts as
// role.
func (o *Options) verify(ctx context.Context, secretID string, d dbSecret, role string) error {
	conn, err := o.connect(ctx, d, d.username, d.password)
	if err != nil {
		return fmt.Errorf("postgres: secret %q: pending credentials: %w", secretID, err)
	}
	defer closeConn(ctx, conn)
	var current string
	if err := conn.QueryRow(ctx, "SELECT current_user").Scan(&current); err != nil {
		return fmt.Errorf("postgres: secret %q: query as %q: %w", secretID, d.username, err)
	}
	if current != role {
		return fmt.Errorf("postgres: secret %q: a session of %q acts as %q, want %q", secretID, d.username, current, role)
	}
	return nil
}
