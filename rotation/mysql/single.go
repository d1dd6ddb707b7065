package mysql

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/rekeyhq/rekey/rotation"
)

// SingleUser returns the strategy that changes the password of the one
// user in the secret, as AWS's single-user MySQL rotation function does:
//
//   - NewPending copies the current value with the new password.
//   - Apply logs in with the pending credentials and returns if that works;
//     otherwise it logs in with the current, then the previous credentials,
//     reads CURRENT_USER() to learn the exact account the login matched
//     (its host part need not be '%'), and runs ALTER USER 'user'@'host'
//     IDENTIFIED BY the pending password on that account; where the server
//     refuses that without CREATE USER (MariaDB), SET PASSWORD for the
//     session's own account instead.
//   - Verify logs in with the pending credentials and checks that the
//     matched account's user is the secret's.
//
// The user needs no privilege beyond logging in. Between setSecret and
// finishSecret the AWSCURRENT credentials no longer log in; clients recover
// by reading AWSPENDING (dbretry/mysql does), or use AlternatingUsers to
// avoid the window.
//
// SingleUser returns an error, whose message starts with "mysql: " and
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
	pending, current, err := parseVersions(v)
	if err != nil {
		return err
	}
	if pending.username != current.username {
		return fmt.Errorf("mysql: single-user rotation of secret %q: pending username %q differs from current %q", v.Pending.ARN, pending.username, current.username)
	}
	log := s.opts.Logger.With("secretId", v.Pending.ARN, "user", pending.username)
	sess, err := s.opts.connect(ctx, pending, pending.username, pending.password)
	if err == nil {
		sess.close()
		log.InfoContext(ctx, "mysql: pending credentials already log in; nothing to set")
		return nil
	}
	errs := []error{fmt.Errorf("pending: %w", err)}
	sess, errs = s.opts.loginWithAny(ctx, v, errs, log)
	if sess == nil {
		return fmt.Errorf("mysql: secret %q: no version's credentials log in to set the password of %q: %w", v.Pending.ARN, pending.username, errors.Join(errs...))
	}
	defer sess.close()
	if sess.user != pending.username {
		return fmt.Errorf("mysql: secret %q: a login as %q is matched to account %s, not one of user %q", v.Pending.ARN, pending.username, account(sess.user, sess.host), pending.username)
	}
	method, err := sess.setOwnPassword(ctx, pending.password)
	if err != nil {
		return fmt.Errorf("mysql: secret %q: %w", v.Pending.ARN, err)
	}
	log.InfoContext(ctx, "mysql: set the pending password", slog.String("account", account(sess.user, sess.host)), slog.String("with", method))
	return nil
}

// loginWithAny logs in with the current, then the previous credentials of
// v, and returns the first session that works, or nil and errs with each
// failure appended.
func (o *Options) loginWithAny(ctx context.Context, v rotation.Versions, errs []error, log *slog.Logger) (*session, []error) {
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
		sess, err := o.connect(ctx, d, d.username, d.password)
		if err == nil {
			log.InfoContext(ctx, "mysql: logged in", slog.String("with", l.name), slog.String("account", account(sess.user, sess.host)))
			return sess, errs
		}
		errs = append(errs, fmt.Errorf("%s: %w", l.name, err))
	}
	return nil, errs
}

func (s *singleUser) Verify(ctx context.Context, pending rotation.Secret) error {
	d, err := parseSecret(pending)
	if err != nil {
		return err
	}
	return s.opts.verify(ctx, pending.ARN, d)
}

// verify logs in with d's credentials and checks that the server matched
// the login to an account of d's user (not, say, an anonymous account).
// When d names a dbname, the login selects it, which the server allows
// only to an account with a privilege on that database: a clone without
// the original's grants fails here.
func (o *Options) verify(ctx context.Context, secretID string, d dbSecret) error {
	sess, err := o.connect(ctx, d, d.username, d.password)
	if err != nil {
		return fmt.Errorf("mysql: secret %q: pending credentials: %w", secretID, err)
	}
	defer sess.close()
	if sess.user != d.username {
		return fmt.Errorf("mysql: secret %q: a login as %q is matched to account %s", secretID, d.username, account(sess.user, sess.host))
	}
	return nil
}
