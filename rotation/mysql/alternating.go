package mysql

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/rotation"
)

// cloneSuffix names the second login of an alternating-users secret, as
// AWS's templates do.
const cloneSuffix = "_clone"

// maxUserName is MariaDB's limit on a user name, in characters. MySQL 8's
// is 32: a longer clone name fails there at setSecret, with the server's
// error.
const maxUserName = 80

// AlternatingUsers returns the strategy that alternates the secret between
// two logins, user and user_clone, so that the AWSCURRENT credentials keep
// working during and after every rotation: each rotation sets the password
// of the login that is not current. After any rotation both the current and
// the previous credentials log in, with the same grants.
//
//   - NewPending copies the current value with the other username and the
//     new password.
//   - Apply returns if the pending credentials log in as the pending user.
//     Otherwise it reads the superuser secret (AWSCURRENT of
//     superuserSecretID, RDS JSON) through rotation.Versions.Secrets, the
//     Rotator's read-only client, logs in with its username and password on
//     the host and port of the rotated secret, learns the accounts' host
//     part from CURRENT_USER() of a login with the current (else the
//     previous) credentials, or, when neither logs in, from the one row of
//     mysql.user for the user, and then: when the pending login is the
//     clone, creates
//     'user_clone'@'host' if missing (with a random password nobody
//     knows), replays every line of SHOW GRANTS FOR 'user'@'host' for it
//     (see the package documentation), and checks that SHOW GRANTS for the
//     clone now shows each; then sets the pending login's password with
//     ALTER USER. The password is set last, so a pending login that works
//     proves the steps before it ran.
//   - Verify logs in with the pending credentials and checks that the
//     matched account's user is the pending user. When the secret names a
//     dbname the login selects it, which needs a privilege on it, so a
//     clone without the original's grants fails Verify.
//
// The superuser needs CREATE USER, GRANT OPTION together with every
// privilege it copies (on RDS, the master user has them), and SELECT on
// the mysql schema for SHOW GRANTS FOR.
//
// AlternatingUsers returns an error, whose message starts with "mysql: ",
// if superuserSecretID is empty or the options are invalid (see Options).
// It makes no API call and opens no connection.
func AlternatingUsers(superuserSecretID string, optFns ...func(*Options)) (rotation.Strategy, error) {
	if superuserSecretID == "" {
		return nil, errors.New("mysql: AlternatingUsers: the superuser secret id is empty")
	}
	o, err := newOptions("AlternatingUsers", optFns)
	if err != nil {
		return nil, err
	}
	return &alternating{superuser: superuserSecretID, opts: o}, nil
}

type alternating struct {
	superuser string
	opts      Options
}

// pair returns the two logins of an alternating secret whose current
// username is user.
func pair(user string) (base, clone string, err error) {
	base = strings.TrimSuffix(user, cloneSuffix)
	clone = base + cloneSuffix
	if base == "" {
		return "", "", fmt.Errorf("mysql: username %q leaves no base user", user)
	}
	if n := utf8.RuneCountInString(clone); n > maxUserName {
		return "", "", fmt.Errorf("mysql: user name %q is %d characters, longer than MariaDB's %d-character limit", clone, n, maxUserName)
	}
	return base, clone, nil
}

func (a *alternating) NewPending(_ context.Context, current rotation.Secret, password string) ([]byte, error) {
	d, err := parseSecret(current)
	if err != nil {
		return nil, err
	}
	base, clone, err := pair(d.username)
	if err != nil {
		return nil, err
	}
	next := clone
	if d.username == clone {
		next = base
	}
	return d.with(next, password)
}

func (a *alternating) Apply(ctx context.Context, v rotation.Versions) error {
	pending, current, err := parseVersions(v)
	if err != nil {
		return err
	}
	base, clone, err := pair(current.username)
	if err != nil {
		return err
	}
	if pending.username == current.username || (pending.username != base && pending.username != clone) {
		return fmt.Errorf("mysql: alternating-users rotation of secret %q: pending username %q is not the other login of %q", v.Pending.ARN, pending.username, current.username)
	}
	log := a.opts.Logger.With("secretId", v.Pending.ARN, "user", pending.username)
	if a.opts.verify(ctx, v.Pending.ARN, pending) == nil {
		log.InfoContext(ctx, "mysql: pending credentials already log in; nothing to set")
		return nil
	}

	su, err := a.readSuperuser(ctx, v.Secrets)
	if err != nil {
		return err
	}
	// Account statements need no default database, which the superuser
	// may not be allowed to use.
	server := pending
	server.dbname = ""
	admin, err := a.opts.connect(ctx, server, su.username, su.password)
	if err != nil {
		return fmt.Errorf("mysql: superuser secret %q: %w", a.superuser, err)
	}
	defer admin.close()
	host, err := a.opts.accountHost(ctx, v, admin, base, log)
	if err != nil {
		return fmt.Errorf("mysql: secret %q: %w", v.Pending.ARN, err)
	}
	if pending.username == clone {
		if err := a.ensureClone(ctx, admin, base, clone, host, log); err != nil {
			return fmt.Errorf("mysql: secret %q: %w", v.Pending.ARN, err)
		}
	}
	if err := admin.execSecret(ctx, pending.password, "ALTER USER "+account(pending.username, host)+" IDENTIFIED BY ?", pending.password); err != nil {
		return fmt.Errorf("mysql: secret %q: setting the password of %s as superuser %q: %w", v.Pending.ARN, account(pending.username, host), su.username, err)
	}
	log.InfoContext(ctx, "mysql: set the pending password", slog.String("account", account(pending.username, host)))
	return nil
}

// accountHost returns the host part both logins share: that of the
// account a login with the current (else the previous) credentials
// matches, which need not be '%'. When neither logs in (a password changed
// behind the secret's back), the superuser looks the base user up in
// mysql.user, which must then hold exactly one account of that name.
func (o *Options) accountHost(ctx context.Context, v rotation.Versions, admin *session, base string, log *slog.Logger) (string, error) {
	sess, errs := o.loginWithAny(ctx, v, nil, log)
	if sess != nil {
		sess.close()
		return sess.host, nil
	}
	rows, err := admin.conn.QueryContext(ctx, "SELECT Host FROM mysql.user WHERE User = ?", base)
	if err != nil {
		return "", fmt.Errorf("neither the current nor the previous credentials log in (%w), and looking user %q up in mysql.user failed: %w", errors.Join(errs...), base, err)
	}
	defer rows.Close()
	var hosts []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return "", fmt.Errorf("reading mysql.user: %w", err)
		}
		hosts = append(hosts, h)
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("reading mysql.user: %w", err)
	}
	if len(hosts) != 1 {
		return "", fmt.Errorf("neither the current nor the previous credentials log in (%w), and mysql.user holds %d accounts of user %q, not one", errors.Join(errs...), len(hosts), base)
	}
	log.InfoContext(ctx, "mysql: found the account's host in mysql.user", slog.String("account", account(base, hosts[0])))
	return hosts[0], nil
}

// ensureClone makes clone@host an account with every grant of base@host.
// admin belongs to the superuser. Each statement is idempotent, and the
// caller sets the clone's real password only after this returns, so a
// crash anywhere here is repaired by the next call.
func (a *alternating) ensureClone(ctx context.Context, admin *session, base, clone, host string, log *slog.Logger) error {
	// A password nobody knows until ALTER USER sets the pending one: the
	// clone must not log in before its grants are copied.
	var b [24]byte
	rand.Read(b[:]) // never returns an error
	placeholder := fmt.Sprintf("%x", b)
	if err := admin.execSecret(ctx, placeholder, "CREATE USER IF NOT EXISTS "+account(clone, host)+" IDENTIFIED BY ?", placeholder); err != nil {
		return fmt.Errorf("creating user %s (the superuser needs the CREATE USER privilege): %w", account(clone, host), err)
	}
	n, err := admin.copyGrants(ctx, base, host, clone, host)
	if err != nil {
		return err
	}
	missing, err := admin.missingGrants(ctx, base, host, clone, host)
	if err != nil {
		return err
	}
	if missing > 0 {
		return fmt.Errorf("after copying the grants of %s, SHOW GRANTS FOR %s lacks %d of them", account(base, host), account(clone, host), missing)
	}
	log.InfoContext(ctx, "mysql: clone account has every grant of the original", slog.String("clone", account(clone, host)), slog.Int("statements", n))
	return nil
}

// readSuperuser reads the AWSCURRENT version of the superuser secret.
func (a *alternating) readSuperuser(ctx context.Context, secrets rotation.SecretReader) (dbSecret, error) {
	if secrets == nil {
		return dbSecret{}, fmt.Errorf("mysql: reading superuser secret %q: rotation.Versions.Secrets is nil (run the strategy under a rotation.Rotator)", a.superuser)
	}
	out, err := secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &a.superuser})
	if err != nil {
		return dbSecret{}, fmt.Errorf("mysql: reading superuser secret %q: %w", a.superuser, err)
	}
	if out == nil {
		return dbSecret{}, fmt.Errorf("mysql: reading superuser secret %q: GetSecretValue returned no output", a.superuser)
	}
	value := []byte(aws.ToString(out.SecretString))
	if out.SecretString == nil {
		value = out.SecretBinary
	}
	return parseSecret(rotation.NewSecret(aws.ToString(out.ARN), aws.ToString(out.VersionId), out.VersionStages, value))
}

func (a *alternating) Verify(ctx context.Context, pending rotation.Secret) error {
	d, err := parseSecret(pending)
	if err != nil {
		return err
	}
	if _, _, err := pair(d.username); err != nil {
		return err
	}
	return a.opts.verify(ctx, pending.ARN, d)
}
