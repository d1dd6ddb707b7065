package leakaudit_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rekeyhq/rekey/dbretry"
	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/internal/pgtest"
	"github.com/rekeyhq/rekey/policy"
	"github.com/rekeyhq/rekey/rotation"
	"github.com/rekeyhq/rekey/rotation/postgres"
	"github.com/rekeyhq/rekey/secretcache"
)

// verbs are the fmt verbs every value-holding type is printed with.
var verbs = []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T", "%10.4v"}

// audit collects everything rekey showed: errors, fmt output, panics and
// the debug log, and looks for the marker in each.
type audit struct {
	marker string
	forms  []string // the marker as it could appear: plain, hex, base64

	mu      sync.Mutex
	outputs []output // guarded by mu
	log     bytes.Buffer
	logMu   sync.Mutex
	logger  *slog.Logger
}

type output struct{ label, text string }

func newAudit(t *testing.T) *audit {
	marker := "LEAKMARK" + rand.Text()
	a := &audit{marker: marker}
	a.forms = []string{
		marker,
		hex.EncodeToString([]byte(marker)),
		strings.ToUpper(hex.EncodeToString([]byte(marker))),
		// base64 of the marker at each of the three alignments, minus the
		// characters that depend on its neighbours.
		base64.StdEncoding.EncodeToString([]byte(marker))[:len(marker)*4/3-2],
		base64.StdEncoding.EncodeToString([]byte("x" + marker))[4 : len(marker)*4/3-2],
		base64.StdEncoding.EncodeToString([]byte("xx" + marker))[4 : len(marker)*4/3-2],
	}
	opts := &slog.HandlerOptions{Level: slog.LevelDebug, AddSource: true}
	w := lockedWriter{a}
	a.logger = slog.New(teeHandler{slog.NewJSONHandler(w, opts), slog.NewTextHandler(w, opts)})
	// The detector itself must work, or the audit proves nothing.
	for _, leak := range []string{marker, fmt.Sprintf("%x", marker), fmt.Sprintf("%X", []byte(marker)),
		base64.StdEncoding.EncodeToString([]byte("abc" + marker + "xyz")), base64.StdEncoding.EncodeToString([]byte("ab" + marker))} {
		if !a.leaks(leak) {
			t.Fatalf("the detector misses %q", leak)
		}
	}
	return a
}

// teeHandler sends each record to every handler, so one log call is audited
// in both the JSON and the text form. (slog.NewMultiHandler does this from
// Go 1.26; the module supports Go 1.25.)
type teeHandler []slog.Handler

func (t teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range t {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (t teeHandler) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	for _, h := range t {
		if h.Enabled(ctx, r.Level) {
			errs = append(errs, h.Handle(ctx, r.Clone()))
		}
	}
	return errors.Join(errs...)
}

func (t teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	u := make(teeHandler, len(t))
	for i, h := range t {
		u[i] = h.WithAttrs(as)
	}
	return u
}

func (t teeHandler) WithGroup(name string) slog.Handler {
	u := make(teeHandler, len(t))
	for i, h := range t {
		u[i] = h.WithGroup(name)
	}
	return u
}

type lockedWriter struct{ a *audit }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.a.logMu.Lock()
	defer w.a.logMu.Unlock()
	return w.a.log.Write(p)
}

func (a *audit) leaks(s string) bool {
	for _, f := range a.forms {
		if strings.Contains(s, f) {
			return true
		}
	}
	return false
}

// see records text rekey produced.
func (a *audit) see(label, text string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.outputs = append(a.outputs, output{label, text})
}

// seeErr records err's message and its %+v and %#v renderings.
func (a *audit) seeErr(label string, err error) {
	if err == nil {
		return
	}
	a.see(label+" Error()", err.Error())
	a.see(label+" %+v", fmt.Sprintf("%+v", err))
	a.see(label+" %#v", fmt.Sprintf("%#v", err))
	a.logger.Debug("error", "label", label, "err", err)
}

// seeValue records every verb of v, of a pointer to it, of a struct
// holding it in an exported field, and v logged through slog.
func (a *audit) seeValue(label string, v any) {
	holder := struct{ Field any }{v}
	for _, verb := range verbs {
		a.see(label+" "+verb, fmt.Sprintf(verb, v))
		a.see(label+" in a struct "+verb, fmt.Sprintf(verb, holder))
	}
	a.see(label+" Sprint", fmt.Sprint(v))
	if b, err := json.Marshal(v); err == nil {
		a.see(label+" json.Marshal", string(b))
	}
	a.logger.Debug("value", "label", label, "v", v)
	a.logger.Debug("group", slog.Group("g", slog.Any("v", v)))
}

func (a *audit) check(t *testing.T) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	leaks := 0
	var labels []string
	for _, o := range a.outputs {
		if a.leaks(o.text) {
			leaks++
			labels = append(labels, o.label)
			if leaks <= 10 {
				t.Errorf("LEAK in %s: %s", o.label, o.text)
			}
		}
	}
	if len(labels) > 0 {
		t.Errorf("every output that leaks: %s", strings.Join(labels, "; "))
	}
	a.logMu.Lock()
	logText := a.log.String()
	a.logMu.Unlock()
	logLeaks := 0
	for line := range strings.Lines(logText) {
		if a.leaks(line) {
			logLeaks++
			if logLeaks <= 20 {
				t.Errorf("LEAK in the debug log: %s", line)
			}
		}
	}
	t.Logf("audited %d outputs and %d log lines (%d bytes); %d leaking outputs, %d leaking log lines",
		len(a.outputs), strings.Count(logText, "\n"), len(logText), leaks, logLeaks)
	if len(a.outputs) < 200 || strings.Count(logText, "\n") < 20 {
		t.Errorf("the audit saw too little (%d outputs, %d log lines) to mean anything", len(a.outputs), strings.Count(logText, "\n"))
	}
}

// env is the emulator with secrets holding the marker.
type env struct {
	srv *awsemu.Server
	sm  *secretsmanager.Client
	a   *audit
}

func (e *env) create(t *testing.T, name, value string) string {
	t.Helper()
	out, err := e.sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		t.Fatalf("CreateSecret %s: %v", name, err)
	}
	return aws.ToString(out.ARN)
}

func (e *env) createBinary(t *testing.T, name string, value []byte) {
	t.Helper()
	if _, err := e.sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretBinary: value}); err != nil {
		t.Fatalf("CreateSecret %s: %v", name, err)
	}
}

func (e *env) put(t *testing.T, name, value string) string {
	t.Helper()
	out, err := e.sm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		t.Fatalf("PutSecretValue %s: %v", name, err)
	}
	return aws.ToString(out.VersionId)
}

// oversizeClient serves a SecretString one byte over the limit, which the
// emulator (like AWS) refuses to store; everything else goes to the real
// client.
type oversizeClient struct {
	secretcache.Client
	id, value string
}

func (c oversizeClient) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	if aws.ToString(in.SecretId) != c.id {
		return c.Client.GetSecretValue(ctx, in, optFns...)
	}
	return &secretsmanager.GetSecretValueOutput{
		ARN: aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:" + c.id + "-AbCdEf"), Name: aws.String(c.id),
		VersionId: aws.String("00000000-0000-4000-8000-00000000b16b"), VersionStages: []string{"AWSCURRENT"},
		SecretString: aws.String(c.value),
	}, nil
}

func wantIs(t *testing.T, label string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v; want one wrapping %v", label, err, target)
	}
}

func wantAs[E error](t *testing.T, label string, err error) E {
	t.Helper()
	var e E
	if !errors.As(err, &e) {
		t.Errorf("%s: error %v; want a %T in its chain", label, err, e)
	}
	return e
}

func wantAPICode(t *testing.T, label string, err error, code string) {
	t.Helper()
	if api := wantAs[smithy.APIError](t, label, err); api != nil && api.ErrorCode() != code {
		t.Errorf("%s: API error code %q, want %q", label, api.ErrorCode(), code)
	}
}

func wantPrefix(t *testing.T, label string, err error, prefix string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", label)
		return
	}
	if !strings.HasPrefix(err.Error(), prefix) {
		t.Errorf("%s: error %q does not start with %q", label, err, prefix)
	}
}

// rdsValue is an RDS secret JSON.
func rdsValue(host string, port int, user, password string) string {
	b, _ := json.Marshal(map[string]any{"engine": "postgres", "host": host, "port": port, "username": user, "password": password, "dbname": "postgres"})
	return string(b)
}

func TestLeakAudit(t *testing.T) {
	a := newAudit(t)
	m := a.marker
	srv := awsemu.New(t)
	e := &env{srv: srv, sm: secretsmanager.NewFromConfig(srv.AWSConfig(), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 }), a: a}
	ctx := t.Context()

	var pg *pgtest.Server
	if _, err := pgtest.Available(); err == nil || os.Getenv(pgtest.RequireEnv) == "1" {
		pg = pgtest.Start(t)
	} else {
		t.Logf("PostgreSQL unavailable (%v): database logins are not audited", err)
	}

	// Secrets: good, and one per kind of bad input.
	e.create(t, "audit/json", `{"username":"app","password":"`+m+`","note":"`+m+`"}`)
	e.put(t, "audit/json", `{"username":"app","password":"`+m+`-2","note":"`+m+`"}`)
	e.create(t, "audit/text", m)
	e.create(t, "audit/malformed", `{"password":"`+m+`","port":`)
	e.create(t, "audit/wrongtype", `{"username":["`+m+`"],"password":{"x":"`+m+`"},"port":"`+m+`"}`)
	e.createBinary(t, "audit/binary", append([]byte{0xff, 0x00, 0xfe}, []byte(m)...))
	e.create(t, "audit/rds-missing", `{"host":"db","password":"`+m+`"}`)
	e.create(t, "audit/rds-emptypw", `{"host":"db","username":"app","password":""}`)
	e.create(t, "audit/rds-badport", rdsValue("db", 0, "app", m)[:0]+`{"host":"db","username":"app","password":"`+m+`","port":"`+m+`"}`)
	e.create(t, "audit/rds-wrongtype", `{"host":"db","username":"app","password":12345,"port":5432,"note":"`+m+`"}`)
	e.create(t, "audit/max", m+strings.Repeat("x", secretcache.MaxValueSize-len(m)))

	t.Run("secretcache", func(t *testing.T) { auditCache(t, e) })
	t.Run("dbretry", func(t *testing.T) { auditDBRetry(t, e, pg) })
	t.Run("rotation", func(t *testing.T) { auditRotation(t, e, pg) })
	t.Run("policy", func(t *testing.T) { auditPolicy(t, e) })
	t.Run("mysql", func(t *testing.T) { auditMySQL(t, e) })

	_ = ctx
	a.check(t)
}

func newCache(t *testing.T, e *env, client secretcache.Client, optFns ...func(*secretcache.Options)) *secretcache.Cache {
	t.Helper()
	c, err := secretcache.New(client, append([]func(*secretcache.Options){func(o *secretcache.Options) {
		o.Logger = e.a.logger
		o.TTL = 50 * time.Millisecond
		o.ErrorBackoff = time.Millisecond
		o.MaxErrorBackoff = time.Millisecond
		o.MinRefreshInterval = -1
	}}, optFns...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func auditCache(t *testing.T, e *env) {
	a, ctx := e.a, t.Context()
	oversize := e.a.marker + strings.Repeat("y", secretcache.MaxValueSize+1-len(e.a.marker))
	var changes []string
	var changesMu sync.Mutex
	c := newCache(t, e, oversizeClient{Client: e.sm, id: "audit/oversize", value: oversize}, func(o *secretcache.Options) {
		o.OnChange = func(id, from, to string) {
			changesMu.Lock()
			changes = append(changes, id)
			changesMu.Unlock()
		}
	})

	// Good reads: every accessor's output but the value itself.
	for _, id := range []string{"audit/json", "audit/text", "audit/binary", "audit/max"} {
		s, err := c.Get(ctx, id)
		if err != nil {
			t.Fatalf("Get %s: %v", id, err)
		}
		a.seeValue("*secretcache.Secret "+id, s)
		a.seeValue("secretcache.Secret "+id, *s)
		a.see("Secret.String "+id, s.String())
		a.see("Secret.GoString "+id, s.GoString())
		a.see("Secret metadata "+id, fmt.Sprint(s.ARN(), s.Name(), s.VersionID(), s.VersionStages(), s.CreatedDate(), s.IsBinary()))
		a.seeValue("[]*Secret "+id, []*secretcache.Secret{s})
		a.seeValue("map[string]*Secret "+id, map[string]*secretcache.Secret{id: s})
	}
	a.seeValue("secretcache.Stats", c.Stats())
	a.seeValue("secretcache.Options", secretcache.DefaultOptions())
	a.seeValue("secretcache.GetOption", secretcache.WithStage("AWSPREVIOUS"))
	prev, err := c.Get(ctx, "audit/json", secretcache.WithStage(secretcache.StagePrevious))
	if err != nil {
		t.Fatalf("Get AWSPREVIOUS: %v", err)
	}
	a.seeValue("*Secret AWSPREVIOUS", prev)
	if _, err := c.Get(ctx, "audit/json", secretcache.WithVersionID(prev.VersionID())); err != nil {
		t.Fatalf("Get by version: %v", err)
	}

	// A rotation observed, so OnChange and the refresh path log.
	e.put(t, "audit/json", `{"username":"app","password":"`+e.a.marker+`-3"}`)
	time.Sleep(60 * time.Millisecond)
	if _, err := c.Get(ctx, "audit/json"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Refresh(ctx, "audit/json"); err != nil {
		t.Fatalf("Refresh: %v", err)
	}

	// Bad inputs, each with a typed error and no value in it.
	_, err = c.GetSecretString(ctx, "audit/binary")
	a.seeErr("GetSecretString of binary", err)
	wantIs(t, "GetSecretString of binary", err, secretcache.ErrBinary)
	_, err = secretcache.GetJSON[map[string]any](ctx, c, "audit/binary")
	a.seeErr("GetJSON of binary", err)
	wantIs(t, "GetJSON of binary", err, secretcache.ErrBinary)
	_, err = c.GetSecretBinary(ctx, "audit/text")
	a.seeErr("GetSecretBinary of text", err)
	wantIs(t, "GetSecretBinary of text", err, secretcache.ErrNotBinary)
	for _, id := range []string{"audit/malformed", "audit/text", "audit/wrongtype", "audit/max"} {
		_, err := secretcache.GetJSON[map[string]any](ctx, c, id)
		a.seeErr("GetJSON[map] "+id, err)
		if id != "audit/wrongtype" {
			wantIs(t, "GetJSON[map] "+id, err, secretcache.ErrInvalidJSON)
		}
		_, err = secretcache.GetJSON[struct {
			Username string
			Password int
			Port     int
		}](ctx, c, id)
		a.seeErr("GetJSON[struct] "+id, err)
		wantIs(t, "GetJSON[struct] "+id, err, secretcache.ErrInvalidJSON)
		_, err = secretcache.GetJSON[[]byte](ctx, c, id)
		a.seeErr("GetJSON[[]byte] "+id, err)
		wantIs(t, "GetJSON[[]byte] "+id, err, secretcache.ErrInvalidJSON)
		var tm struct{ Note time.Time }
		s, _ := c.Get(ctx, id)
		err = s.Unmarshal(&tm)
		a.seeErr("Secret.Unmarshal "+id, err)
	}
	_, err = c.Get(ctx, "audit/oversize")
	a.seeErr("Get of a 65,537-byte value", err)
	wantIs(t, "Get of a 65,537-byte value", err, secretcache.ErrValueTooLarge)
	if s, err := c.Get(ctx, "audit/max"); err != nil || len(mustText(t, s)) != secretcache.MaxValueSize {
		t.Errorf("a value of exactly %d bytes: %v", secretcache.MaxValueSize, err)
	}

	_, err = c.Get(ctx, "audit/missing")
	a.seeErr("Get not found", err)
	wantAs[*types.ResourceNotFoundException](t, "Get not found", err)
	wantAs[*secretcache.FetchError](t, "Get not found", err)
	_, err = c.Get(ctx, "")
	a.seeErr("Get empty id", err)
	wantPrefix(t, "Get empty id", err, "secretcache: ")
	_, err = c.Get(ctx, "audit/json", secretcache.WithStage("NOSUCHSTAGE"))
	a.seeErr("Get unknown stage", err)
	wantAs[*types.ResourceNotFoundException](t, "Get unknown stage", err)
	_, err = c.Get(ctx, "audit/json", secretcache.WithStage(""))
	a.seeErr("Get empty stage", err)
	_, err = c.Get(ctx, "audit/json", secretcache.WithVersionID("00000000-0000-4000-8000-0000000000aa"))
	a.seeErr("Get unknown version", err)
	wantAs[*types.ResourceNotFoundException](t, "Get unknown version", err)

	e.create(t, "audit/throttled", `{"password":"`+e.a.marker+`"}`)
	e.srv.InjectFault(awsemu.Fault{Op: "GetSecretValue", Code: "ThrottlingException", Times: 1})
	_, err = c.Get(ctx, "audit/throttled")
	a.seeErr("Get throttled", err)
	wantAPICode(t, "Get throttled", err, "ThrottlingException")
	e.srv.InjectFault(awsemu.Fault{Op: "DescribeSecret", Code: "InternalServiceError", Times: 1})
	time.Sleep(60 * time.Millisecond)
	if _, err := c.Refresh(ctx, "audit/json"); err != nil {
		// Stale-if-error may answer with the cached value instead.
		a.seeErr("Refresh 500", err)
	}

	timeout := newCache(t, e, e.sm, func(o *secretcache.Options) { o.FetchTimeout = 100 * time.Millisecond })
	e.create(t, "audit/hung", `{"password":"`+e.a.marker+`"}`)
	e.srv.InjectFault(awsemu.Fault{Op: "GetSecretValue", Hang: true, Times: 1})
	_, err = timeout.Get(ctx, "audit/hung")
	a.seeErr("Get hung", err)
	wantIs(t, "Get hung", err, context.DeadlineExceeded)
	e.srv.InjectFault(awsemu.Fault{Op: "GetSecretValue", Reset: true, Times: 1})
	_, err = timeout.Get(ctx, "audit/malformed")
	a.seeErr("Get reset", err)
	wantAs[*secretcache.FetchError](t, "Get reset", err)

	err = c.Prefetch(ctx, "audit/json", "audit/missing", "audit/binary", "audit/text")
	a.seeErr("Prefetch with a missing id", err)

	// A panicking OnChange is recovered, logged with its stack, and
	// returned by Close.
	changed := make(chan struct{})
	var once sync.Once
	pc := newCache(t, e, e.sm, func(o *secretcache.Options) {
		o.OnChange = func(id, from, to string) {
			once.Do(func() { close(changed) })
			panic("OnChange for " + id + " panicked")
		}
	})
	if _, err := pc.Get(ctx, "audit/text"); err != nil {
		t.Fatal(err)
	}
	e.put(t, "audit/text", e.a.marker+"-next")
	time.Sleep(60 * time.Millisecond)
	if _, err := pc.Refresh(ctx, "audit/text"); err != nil {
		a.seeErr("Refresh before OnChange panic", err)
	}
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Error("OnChange was never called")
	}
	perr := pc.Close()
	a.seeErr("Close after OnChange panic", perr)
	wantIs(t, "Close after OnChange panic", perr, secretcache.ErrCallbackPanic)

	// Programming errors.
	_, err = secretcache.New(nil)
	a.seeErr("New(nil)", err)
	wantPrefix(t, "New(nil)", err, "secretcache: ")
	_, err = secretcache.New(e.sm, func(o *secretcache.Options) { o.TTL = -1 })
	a.seeErr("New with negative TTL", err)

	c.Close()
	_, err = c.Get(ctx, "audit/json")
	a.seeErr("Get after Close", err)
	wantIs(t, "Get after Close", err, secretcache.ErrClosed)
	a.seeValue("Stats after Close", c.Stats())
	changesMu.Lock()
	if len(changes) == 0 {
		t.Error("OnChange never ran: the refresh path was not exercised")
	}
	changesMu.Unlock()
}

func mustText(t *testing.T, s *secretcache.Secret) string {
	t.Helper()
	v, err := s.Text()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func auditDBRetry(t *testing.T, e *env, pg *pgtest.Server) {
	a, ctx := e.a, t.Context()
	c := newCache(t, e, e.sm)

	get := func(id string) *secretcache.Secret {
		s, err := c.Get(ctx, id)
		if err != nil {
			t.Fatalf("Get %s: %v", id, err)
		}
		return s
	}
	for _, tc := range []struct {
		id     string
		target error // nil: an error naming the key, with no sentinel to match
		key    string
	}{
		{"audit/malformed", secretcache.ErrInvalidJSON, ""},
		{"audit/text", secretcache.ErrInvalidJSON, ""},
		{"audit/wrongtype", secretcache.ErrInvalidJSON, ""},
		{"audit/binary", secretcache.ErrBinary, ""},
		{"audit/rds-missing", nil, `"username"`},
		{"audit/rds-emptypw", nil, `"password"`},
		{"audit/rds-badport", nil, `"port"`},
		{"audit/rds-wrongtype", secretcache.ErrInvalidJSON, ""},
	} {
		_, err := dbretry.ParseCredentials(get(tc.id))
		a.seeErr("ParseCredentials "+tc.id, err)
		wantPrefix(t, "ParseCredentials "+tc.id, err, "dbretry: ")
		if tc.target != nil {
			wantIs(t, "ParseCredentials "+tc.id, err, tc.target)
		} else if err != nil && !strings.Contains(err.Error(), tc.key) {
			t.Errorf("ParseCredentials %s: error %q does not name the key %s", tc.id, err, tc.key)
		}
		src, err := dbretry.NewSource(c, tc.id, func(o *dbretry.Options) { o.Logger = a.logger })
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.Credentials(ctx)
		a.seeErr("Source.Credentials "+tc.id, err)
		wantPrefix(t, "Source.Credentials "+tc.id, err, "dbretry: ")
	}
	_, err := dbretry.ParseCredentials(nil)
	a.seeErr("ParseCredentials(nil)", err)

	// Good credentials in every rendering.
	host, port := "127.0.0.1", 9
	if pg != nil {
		host, port = pg.Host, pg.Port
	}
	e.create(t, "audit/rds", rdsValue(host, port, "audit_app", a.marker))
	creds, err := dbretry.ParseCredentials(get("audit/rds"))
	if err != nil {
		t.Fatalf("ParseCredentials: %v", err)
	}
	if creds.Password != a.marker {
		t.Fatalf("ParseCredentials lost the password")
	}
	a.seeValue("dbretry.Credentials", creds)
	a.seeValue("*dbretry.Credentials", &creds)
	a.see("Credentials.String", creds.String())
	a.see("Credentials.GoString", creds.GoString())
	a.seeValue("[]dbretry.Credentials", []dbretry.Credentials{creds})
	a.seeValue("map[string]dbretry.Credentials", map[string]dbretry.Credentials{"k": creds})
	a.logger.Info("credentials", "creds", creds, slog.Any("ptr", &creds))
	a.seeValue("dbretry.Options", dbretry.DefaultOptions())

	_, err = dbretry.NewSource(nil, "x")
	a.seeErr("NewSource(nil cache)", err)
	wantPrefix(t, "NewSource(nil cache)", err, "dbretry: ")
	_, err = dbretry.NewSource(c, "")
	a.seeErr("NewSource(empty id)", err)
	wantPrefix(t, "NewSource(empty id)", err, "dbretry: ")

	// Refused logins: a password that is not the role's, against a real
	// PostgreSQL when there is one.
	if pg == nil {
		return
	}
	pg.Exec(t, "CREATE ROLE audit_app LOGIN PASSWORD 'the-real-password'")
	src, err := dbretry.NewSource(c, "audit/rds", func(o *dbretry.Options) {
		o.Logger = a.logger
		o.RetryBudget = 300 * time.Millisecond
		o.MinBackoff = 10 * time.Millisecond
		o.MaxBackoff = 50 * time.Millisecond
	})
	if err != nil {
		t.Fatal(err)
	}
	a.seeValue("dbretry.Source", src)
	a.seeValue("dbretry.Stats", src.Stats())

	pool, err := dbretry.NewPool(ctx, src, nil)
	if err != nil {
		t.Fatalf("NewPool: %v", err)
	}
	defer pool.Close()
	a.seeValue("*dbretry.Pool", pool)
	err = pool.Ping(ctx)
	a.seeErr("Pool.Ping refused", err)
	re := wantAs[*dbretry.RetryError](t, "Pool.Ping refused", err)
	a.seeValue("*dbretry.RetryError", re)
	if !dbretry.IsAuthError(err) {
		t.Errorf("Pool.Ping refused: IsAuthError false for %v", err)
	}
	if pe := wantAs[*pgconn.PgError](t, "Pool.Ping refused", err); pe != nil && pe.Code != "28P01" {
		t.Errorf("Pool.Ping refused: SQLSTATE %s, want 28P01", pe.Code)
	}
	_, err = pool.Exec(ctx, "SELECT 1")
	a.seeErr("Pool.Exec refused", err)
	err = pool.QueryRow(ctx, "SELECT 1").Scan(new(int))
	a.seeErr("Pool.QueryRow refused", err)

	db := dbretry.OpenDB(src)
	defer db.Close()
	err = db.PingContext(ctx)
	a.seeErr("OpenDB Ping refused", err)
	if !dbretry.IsAuthError(err) {
		t.Errorf("OpenDB Ping refused: IsAuthError false for %v", err)
	}

	_, err = dbretry.Connect(ctx, src, func(ctx context.Context, c dbretry.Credentials) (struct{}, error) {
		return struct{}{}, &pgconn.PgError{Severity: "FATAL", Code: "28P01", Message: "password authentication failed for user \"" + c.Username + "\""}
	})
	a.seeErr("Connect refused", err)
	wantAs[*dbretry.RetryError](t, "Connect refused", err)

	// A panicking OnSwitch surfaces as an error.
	pg.Exec(t, "ALTER ROLE audit_app PASSWORD '"+a.marker+"'")
	e.put(t, "audit/rds", rdsValue(host, port, "audit_app", a.marker+"-new"))
	sw, err := dbretry.NewSource(c, "audit/rds", func(o *dbretry.Options) {
		o.Logger = a.logger
		o.OnSwitch = func(id, from, to, stage string) { panic("OnSwitch panicked for " + id) }
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sw.Credentials(ctx); err != nil {
		a.seeErr("OnSwitch first", err)
	}
	c.Invalidate("audit/rds")
	e.put(t, "audit/rds", rdsValue(host, port, "audit_app", a.marker+"-newer"))
	_, err = sw.Credentials(ctx)
	a.seeErr("OnSwitch panic", err)
}

// capturing is a Strategy that records the Secrets it is given, so their
// renderings can be audited, and fails where told.
type capturing struct {
	a        *audit
	value    []byte
	failStep rotation.Step
}

var errStrategy = errors.New("strategy refused")

func (s *capturing) NewPending(_ context.Context, current rotation.Secret, password string) ([]byte, error) {
	s.a.seeValue("rotation.Secret current", current)
	s.a.seeValue("*rotation.Secret current", &current)
	s.a.see("rotation.Secret.String", current.String())
	s.a.see("rotation.Secret.GoString", current.GoString())
	if s.failStep == rotation.CreateSecret {
		return nil, errStrategy
	}
	return s.value, nil
}

func (s *capturing) Apply(_ context.Context, v rotation.Versions) error {
	s.a.seeValue("rotation.Versions", v)
	s.a.seeValue("*rotation.Versions", &v)
	s.a.seeValue("rotation.Secret pending", v.Pending)
	if v.Previous != nil {
		s.a.seeValue("*rotation.Secret previous", v.Previous)
	}
	if s.failStep == rotation.SetSecret {
		return errStrategy
	}
	return nil
}

func (s *capturing) Verify(_ context.Context, pending rotation.Secret) error {
	if s.failStep == rotation.TestSecret {
		return errStrategy
	}
	return nil
}

func auditRotation(t *testing.T, e *env, pg *pgtest.Server) {
	a, ctx := e.a, t.Context()
	withLog := func(o *rotation.Options) { o.Logger = a.logger }

	// A full rotation, so every Secret a Strategy sees is rendered.
	e.create(t, "audit/rot", a.marker+"-v0")
	e.put(t, "audit/rot", a.marker+"-v1")
	good := &capturing{a: a, value: []byte(a.marker + "-v2")}
	if err := newRotator(t, e.sm, good, withLog).Rotate(ctx, "audit/rot"); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	a.seeValue("rotation.Options", rotation.Options{Password: rotation.DefaultPasswordPolicy()})
	a.seeValue("rotation.Event", rotation.Event{Step: rotation.CreateSecret, SecretID: "audit/rot", ClientRequestToken: "t"})
	a.seeValue("rotation.NewSecret", rotation.NewSecret("arn", "v", []string{"AWSCURRENT"}, []byte(a.marker)))

	// Strategy errors at each step.
	for i, step := range []rotation.Step{rotation.CreateSecret, rotation.SetSecret, rotation.TestSecret} {
		id := fmt.Sprintf("audit/rot-fail-%d", i)
		e.create(t, id, a.marker+"-current")
		err := newRotator(t, e.sm, &capturing{a: a, value: []byte(a.marker + "-pending"), failStep: step}, withLog).Rotate(ctx, id)
		a.seeErr("Rotate failing "+string(step), err)
		wantIs(t, "Rotate failing "+string(step), err, errStrategy)
		if se := wantAs[*rotation.StepError](t, "Rotate failing "+string(step), err); se != nil && se.Step != step {
			t.Errorf("Rotate failing %s: StepError.Step %s", step, se.Step)
		}
	}
	// A 65,537-byte pending value is refused by the service.
	e.create(t, "audit/rot-oversize", a.marker)
	err := newRotator(t, e.sm, &capturing{a: a, value: []byte(a.marker + strings.Repeat("z", secretcache.MaxValueSize+1-len(a.marker)))}, withLog).Rotate(ctx, "audit/rot-oversize")
	a.seeErr("Rotate oversize", err)
	if se := wantAs[*rotation.StepError](t, "Rotate oversize", err); se != nil && se.Step != rotation.CreateSecret {
		t.Errorf("Rotate oversize: failed in %s, want createSecret", se.Step)
	}
	if err != nil && !strings.Contains(err.Error(), "65536") {
		t.Errorf("Rotate oversize: error %q does not state the limit", err)
	}
	err = newRotator(t, e.sm, good, withLog).Rotate(ctx, "")
	a.seeErr("Rotate empty id", err)
	if err == nil {
		t.Error("Rotate of an empty id: no error")
	}
	err = newRotator(t, e.sm, good, withLog).Rotate(ctx, "audit/missing")
	a.seeErr("Rotate not found", err)
	wantAs[*types.ResourceNotFoundException](t, "Rotate not found", err)

	// Handle's refusals, on a secret whose rotation is enabled and pending.
	const lambda = "arn:aws:lambda:us-east-1:123456789012:function:audit-noop"
	e.srv.RegisterRotationFunc(lambda, func(context.Context, string, string, string) error { return nil })
	e.create(t, "audit/handle", a.marker+"-v0")
	first, err := e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("audit/handle")})
	if err != nil {
		t.Fatal(err)
	}
	var v0 string
	for v := range first.VersionIdsToStages {
		v0 = v
	}
	e.put(t, "audit/handle", a.marker+"-v1")
	out, err := e.sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String("audit/handle"), RotationLambdaARN: aws.String(lambda)})
	if err != nil {
		t.Fatalf("RotateSecret: %v", err)
	}
	pending := aws.ToString(out.VersionId)
	// A secret whose rotation was turned off (RotationEnabled false; a
	// secret never configured has no RotationEnabled at all) with a
	// rotation left pending.
	e.create(t, "audit/no-rotation", a.marker)
	unrotatedOut, err := e.sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String("audit/no-rotation"), RotationLambdaARN: aws.String(lambda)})
	if err != nil {
		t.Fatalf("RotateSecret: %v", err)
	}
	unrotated := aws.ToString(unrotatedOut.VersionId)
	if _, err := e.sm.CancelRotateSecret(ctx, &secretsmanager.CancelRotateSecretInput{SecretId: aws.String("audit/no-rotation")}); err != nil {
		t.Fatalf("CancelRotateSecret: %v", err)
	}
	h := newRotator(t, e.sm, good, withLog)
	for _, tc := range []struct {
		label string
		ev    rotation.Event
		want  error
	}{
		{"unknown step", rotation.Event{Step: "rotateEverything", SecretID: "audit/handle", ClientRequestToken: pending}, rotation.ErrUnknownStep},
		{"rotation disabled", rotation.Event{Step: rotation.CreateSecret, SecretID: "audit/no-rotation", ClientRequestToken: unrotated}, rotation.ErrRotationDisabled},
		{"token not found", rotation.Event{Step: rotation.CreateSecret, SecretID: "audit/handle", ClientRequestToken: "00000000-0000-4000-8000-0000000000ff"}, rotation.ErrTokenNotFound},
		{"not pending", rotation.Event{Step: rotation.SetSecret, SecretID: "audit/handle", ClientRequestToken: v0}, rotation.ErrNotPending},
	} {
		err := h.Handle(ctx, tc.ev)
		a.seeErr("Handle "+tc.label, err)
		wantIs(t, "Handle "+tc.label, err, tc.want)
		wantAs[*rotation.StepError](t, "Handle "+tc.label, err)
	}
	err = h.Handle(ctx, rotation.Event{Step: rotation.CreateSecret, SecretID: "", ClientRequestToken: pending})
	a.seeErr("Handle empty id", err)
	if err == nil {
		t.Error("Handle with an empty secret id: no error")
	}
	_, err = rotation.New(nil, good)
	a.seeErr("rotation.New(nil)", err)
	wantPrefix(t, "rotation.New(nil)", err, "rotation: ")
	_, err = rotation.New(e.sm, good, func(o *rotation.Options) { o.Password.Length = 0 })
	a.seeErr("rotation.New bad policy", err)
	wantPrefix(t, "rotation.New bad policy", err, "rotation: ")

	// rotation/postgres reading bad values: none is quoted.
	single, err := postgres.SingleUser(func(o *postgres.Options) { o.Logger = a.logger; o.SSLMode = "disable" })
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"audit/malformed", "audit/text", "audit/binary", "audit/rds-missing", "audit/rds-badport", "audit/wrongtype"} {
		err := newRotator(t, e.sm, single, withLog).Rotate(ctx, id)
		a.seeErr("postgres.SingleUser "+id, err)
		wantAs[*rotation.StepError](t, "postgres.SingleUser "+id, err)
	}
	alt, err := postgres.AlternatingUsers("audit/malformed", func(o *postgres.Options) { o.Logger = a.logger; o.SSLMode = "disable" })
	if err != nil {
		t.Fatal(err)
	}
	_, err = postgres.AlternatingUsers("")
	a.seeErr("AlternatingUsers empty superuser id", err)
	wantPrefix(t, "AlternatingUsers empty superuser id", err, "postgres: ")
	if pg == nil {
		return
	}
	// Against PostgreSQL: the current password is wrong (the marker), so
	// setSecret cannot log in; the superuser secret is malformed.
	pg.Exec(t, "CREATE ROLE audit_rot LOGIN PASSWORD 'not-the-marker'")
	e.create(t, "audit/rds-rot", rdsValue(pg.Host, pg.Port, "audit_rot", a.marker))
	err = newRotator(t, e.sm, single, withLog).Rotate(ctx, "audit/rds-rot")
	a.seeErr("SingleUser refused login", err)
	wantAs[*rotation.StepError](t, "SingleUser refused login", err)
	e.create(t, "audit/rds-rot2", rdsValue(pg.Host, pg.Port, "audit_rot", a.marker))
	err = newRotator(t, e.sm, alt, withLog).Rotate(ctx, "audit/rds-rot2")
	a.seeErr("AlternatingUsers malformed superuser", err)
}

func auditPolicy(t *testing.T, e *env) {
	a, ctx := e.a, t.Context()
	kmsc := kms.NewFromConfig(e.srv.AWSConfig())
	before := e.srv.Calls("GetSecretValue")
	for _, id := range []string{"audit/json", "audit/binary"} {
		acc, err := policy.Gather(ctx, e.sm, kmsc, id)
		if err != nil {
			t.Fatalf("Gather %s: %v", id, err)
		}
		acc.Caller = "arn:aws:iam::123456789012:role/app"
		rep := policy.CheckGetSecretValue(acc)
		a.seeValue("policy.SecretAccess", acc)
		a.seeValue("policy.Report", rep)
		a.see("Report.String", rep.String())
	}
	_, err := policy.Gather(ctx, e.sm, kmsc, "audit/missing")
	a.seeErr("Gather not found", err)
	wantAs[*types.ResourceNotFoundException](t, "Gather not found", err)
	_, err = policy.Gather(ctx, e.sm, kmsc, "")
	a.seeErr("Gather empty id", err)
	if got := e.srv.Calls("GetSecretValue"); got != before {
		t.Errorf("policy.Gather called GetSecretValue %d times; it must never read a secret value", got-before)
	}
}

// newRotator is rotation.New for arguments that must be valid.
func newRotator(t testing.TB, c rotation.Client, s rotation.Strategy, optFns ...func(*rotation.Options)) *rotation.Rotator {
	t.Helper()
	r, err := rotation.New(c, s, optFns...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
