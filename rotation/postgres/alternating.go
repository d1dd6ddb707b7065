package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"

	"github.com/rekeyhq/rekey/rotation"
)

// cloneSuffix names the second login of an alternating-users secret.
const cloneSuffix = "_clone"

// AlternatingUsers returns the strategy that alternates the secret between
// two logins, user and user_clone, so that the AWSCURRENT credentials keep
// working during and after every rotation: each rotation sets the password
// of the login that is not current. After any rotation both the current and
// the previous credentials log in.
//
// Both logins act as one role, so objects keep one owner: user_clone is a
// member of user and its sessions start with SET ROLE user (ALTER ROLE
// user_clone SET role = 'user'). A table created through either login is
// owned by user and usable through both. The clone's other role attributes
// are not copied, except CONNECTION LIMIT, because after SET ROLE those of
// user apply.
//
//   - NewPending copies the current value with the other username and the
//     new password. The clone's name must fit PostgreSQL's 63-byte limit.
//   - Apply returns if the pending credentials log in and act as user.
//     Otherwise it reads the superuser secret (AWSCURRENT of
//     superuserSecretID, RDS JSON) through rotation.Versions.Secrets, the
//     Rotator's read-only client, and, logged in with its
//     username and password on the host, port and database of the rotated
//     secret, in one transaction creates user_clone if missing, makes it a
//     member of user acting as user, and sets the pending login's password
//     (its SCRAM verifier, never the password).
//   - Verify logs in with the pending credentials and checks that the
//     session acts as user.
//
// The superuser needs CREATEROLE and ADMIN OPTION on user (on RDS, the
// master user).
//
// AlternatingUsers returns an error, whose message starts with
// "postgres: ", if superuserSecretID is empty or the options are invalid
// (see Options). It makes no API call and opens no connection.
func AlternatingUsers(superuserSecretID string, optFns ...func(*Options)) (rotation.Strategy, error) {
	if superuserSecretID == "" {
		return nil, errors.New("postgres: AlternatingUsers: the superuser secret id is empty")
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
		return "", "", fmt.Errorf("postgres: username %q leaves no base role", user)
	}
	if len(clone) > maxIdentifier {
		return "", "", fmt.Errorf("postgres: role name %q is longer than PostgreSQL's %d-byte limit", clone, maxIdentifier)
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
	pending, err := parseSecret(v.Pending)
	if err != nil {
		return err
	}
	current, err := parseSecret(v.Current)
	if err != nil {
		return err
	}
	base, clone, err := pair(current.username)
	if err != nil {
		return err
	}
	if pending.username == current.username || (pending.username != base && pending.username != clone) {
		return fmt.Errorf("postgres: alternating-users rotation of secret %q: pending username %q is not the other login of %q", v.Pending.ARN, pending.username, current.username)
	}
	log := a.opts.Logger.With("secretId", v.Pending.ARN, "role", pending.username)
	if a.opts.verify(ctx, v.Pending.ARN, pending, base) == nil {
		log.InfoContext(ctx, "postgres: pending credentials already log in; nothing to set")
		return nil
	}

	su, err := a.readSuperuser(ctx, v.Secrets)
	if err != nil {
		return err
	}
	conn, err := a.opts.connect(ctx, pending, su.username, su.password)
	if err != nil {
		return fmt.Errorf("postgres: superuser secret %q: %w", a.superuser, err)
	}
	defer closeConn(ctx, conn)
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var connLimit int
		err := tx.QueryRow(ctx, "SELECT rolconnlimit FROM pg_roles WHERE rolname = $1", base).Scan(&connLimit)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("postgres: role %q does not exist", base)
		}
		if err != nil {
			return fmt.Errorf("postgres: reading role %q: %w", base, err)
		}
		if pending.username == clone {
			if err := ensureClone(ctx, tx, base, clone, connLimit, log); err != nil {
				return err
			}
		}
		return setPassword(ctx, tx, pending.username, pending.password)
	})
}

// ensureClone makes clone a login that is a member of base and acts as
// base. tx belongs to the superuser.
func ensureClone(ctx context.Context, tx pgx.Tx, base, clone string, connLimit int, log *slog.Logger) error {
	var exists, member bool
	err := tx.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $2),
		       EXISTS (SELECT 1 FROM pg_auth_members m
		                 JOIN pg_roles r ON r.oid = m.roleid
		                 JOIN pg_roles u ON u.oid = m.member
		                WHERE r.rolname = $1 AND u.rolname = $2)`, base, clone).Scan(&exists, &member)
	if err != nil {
		return fmt.Errorf("postgres: reading role %q: %w", clone, err)
	}
	var stmts []string
	switch {
	case !exists:
		log.InfoContext(ctx, "postgres: creating the clone login", slog.String("memberOf", base))
		stmts = append(stmts, fmt.Sprintf("CREATE ROLE %s WITH LOGIN CONNECTION LIMIT %d IN ROLE %s", quoteIdent(clone), connLimit, quoteIdent(base)))
	case !member:
		stmts = append(stmts, "ALTER ROLE "+quoteIdent(clone)+" WITH LOGIN", "GRANT "+quoteIdent(base)+" TO "+quoteIdent(clone))
	default:
		stmts = append(stmts, "ALTER ROLE "+quoteIdent(clone)+" WITH LOGIN")
	}
	stmts = append(stmts, "ALTER ROLE "+quoteIdent(clone)+" SET role = "+quoteLiteral(base))
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("postgres: preparing role %q: %w", clone, err)
		}
	}
	return nil
}

// readSuperuser reads the AWSCURRENT version of the superuser secret.
func (a *alternating) readSuperuser(ctx context.Context, secrets rotation.SecretReader) (dbSecret, error) {
	if secrets == nil {
		return dbSecret{}, fmt.Errorf("postgres: reading superuser secret %q: rotation.Versions.Secrets is nil (run the strategy under a rotation.Rotator)", a.superuser)
	}
	out, err := secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &a.superuser})
	if err != nil {
		return dbSecret{}, fmt.Errorf("postgres: reading superuser secret %q: %w", a.superuser, err)
	}
	if out == nil {
		return dbSecret{}, fmt.Errorf("postgres: reading superuser secret %q: GetSecretValue returned no output", a.superuser)
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
	base, _, err := pair(d.username)
	if err != nil {
		return err
	}
	return a.opts.verify(ctx, pending.ARN, d, base)
}
