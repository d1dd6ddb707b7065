package dbretry

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Pool is a pgxpool.Pool whose new connections log in with a Source's
// credentials and whose operations survive a rotation of them.
//
// pgxpool opens connections inside Acquire, so a refused login surfaces
// from the operation that needed a connection. Every Pool method that
// acquires one retries exactly that case: an authentication error that
// pgx reports as a *pgconn.ConnectError, which is produced only while
// opening a connection, before any statement was sent. A statement is
// never sent twice. The retries follow Connect.
//
// Pool is safe for concurrent use. Close it when done; the Source and its
// cache are not closed with it.
type Pool struct {
	p   *pgxpool.Pool
	src *Source
}

// NewPool creates a Pool whose connections take host, port, database,
// user and password from src (database and port only when the secret has
// them); everything else comes from cfg. cfg must come from
// pgxpool.ParseConfig; it is copied, never modified, and its
// BeforeConnect, if any, runs after the credentials are set. A nil cfg
// means pgxpool.ParseConfig("host=localhost"), which reads the PG*
// environment variables (e.g. PGSSLMODE) and defaults to sslmode=prefer.
//
// NewPool reads the secret once through src, so that a missing or
// malformed secret fails here; like pgxpool.NewWithConfig, it opens no
// connection unless cfg.MinConns asks for some. A nil src, or a cfg not
// made by pgxpool.ParseConfig (on which pgxpool.NewWithConfig panics),
// makes it return an error starting with "dbretry: ".
func NewPool(ctx context.Context, src *Source, cfg *pgxpool.Config) (*Pool, error) {
	if src == nil {
		return nil, errors.New("dbretry: NewPool with a nil *Source")
	}
	if cfg == nil {
		var err error
		if cfg, err = pgxpool.ParseConfig("host=localhost"); err != nil {
			return nil, err
		}
	} else if cfg.ConnConfig == nil {
		return nil, errNotParsed
	} else {
		cfg = cfg.Copy()
	}
	if _, err := src.Credentials(ctx); err != nil {
		return nil, err
	}
	next := cfg.BeforeConnect
	cfg.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
		c, err := src.Credentials(ctx)
		if err != nil {
			return err
		}
		applyCredentials(cc, c)
		if next != nil {
			return next(ctx, cc)
		}
		return nil
	}
	p, err := newWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &Pool{p: p, src: src}, nil
}

// errNotParsed reports a pgxpool.Config built by hand.
var errNotParsed = errors.New("dbretry: NewPool with a pgxpool.Config not made by pgxpool.ParseConfig")

// newWithConfig is pgxpool.NewWithConfig, returning errNotParsed where it
// panics because cfg was not made by pgxpool.ParseConfig. That check is the
// first thing it does, so nothing is left half-made; any other panic is
// not ours to hide and goes on.
func newWithConfig(ctx context.Context, cfg *pgxpool.Config) (p *pgxpool.Pool, err error) {
	defer func() {
		if r := recover(); r != nil {
			if r != "config must be created by ParseConfig" {
				panic(r)
			}
			p, err = nil, errNotParsed
		}
	}()
	return pgxpool.NewWithConfig(ctx, cfg)
}

// Raw returns the underlying pgxpool.Pool. Operations on it get new
// credentials from the Source but do not retry a refused login.
func (p *Pool) Raw() *pgxpool.Pool { return p.p }

// Acquire is pgxpool.Pool.Acquire, retrying a refused login. The caller
// must Release the connection.
func (p *Pool) Acquire(ctx context.Context) (*pgxpool.Conn, error) {
	return retry(ctx, p.src, func() (*pgxpool.Conn, error) { return p.p.Acquire(ctx) }, pgxRefused)
}

// Exec is pgxpool.Pool.Exec, retrying a refused login.
func (p *Pool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return retry(ctx, p.src, func() (pgconn.CommandTag, error) { return p.p.Exec(ctx, sql, args...) }, pgxRefused)
}

// Query is pgxpool.Pool.Query, retrying a refused login. The rows hold a
// connection until closed or read to the end.
func (p *Pool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return retry(ctx, p.src, func() (pgx.Rows, error) { return p.p.Query(ctx, sql, args...) }, pgxRefused)
}

// QueryRow is pgxpool.Pool.QueryRow, retrying a refused login; an error
// acquiring a connection is returned by the row's Scan.
func (p *Pool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	c, err := p.Acquire(ctx)
	if err != nil {
		return errRow{err}
	}
	return &connRow{r: c.QueryRow(ctx, sql, args...), c: c}
}

// Begin is pgxpool.Pool.Begin, retrying a refused login.
func (p *Pool) Begin(ctx context.Context) (pgx.Tx, error) {
	return retry(ctx, p.src, func() (pgx.Tx, error) { return p.p.Begin(ctx) }, pgxRefused)
}

// BeginTx is pgxpool.Pool.BeginTx, retrying a refused login.
func (p *Pool) BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	return retry(ctx, p.src, func() (pgx.Tx, error) { return p.p.BeginTx(ctx, opts) }, pgxRefused)
}

// SendBatch is pgxpool.Pool.SendBatch, retrying a refused login; an error
// acquiring a connection is returned by the results' methods. Close the
// results to release the connection.
func (p *Pool) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	c, err := p.Acquire(ctx)
	if err != nil {
		return pgx.FailedBatchResults(b, err)
	}
	br := c.SendBatch(ctx, b)
	if tx := br.Tx(); tx != nil {
		// The transaction the batch began owns the connection now.
		return &connBatchResults{BatchResults: br, tx: &connTx{Tx: tx, c: c}}
	}
	return &connBatchResults{BatchResults: br, c: c}
}

// CopyFrom is pgxpool.Pool.CopyFrom, retrying a refused login; rowSrc is
// not read before a connection is open.
func (p *Pool) CopyFrom(ctx context.Context, tableName pgx.Identifier, columnNames []string, rowSrc pgx.CopyFromSource) (int64, error) {
	return retry(ctx, p.src, func() (int64, error) { return p.p.CopyFrom(ctx, tableName, columnNames, rowSrc) }, pgxRefused)
}

// Ping is pgxpool.Pool.Ping, retrying a refused login.
func (p *Pool) Ping(ctx context.Context) error {
	_, err := retry(ctx, p.src, func() (struct{}, error) { return struct{}{}, p.p.Ping(ctx) }, pgxRefused)
	return err
}

// Stat returns the underlying pool's statistics.
func (p *Pool) Stat() *pgxpool.Stat { return p.p.Stat() }

// Close closes all connections, waiting for acquired ones to be released,
// as pgxpool.Pool.Close does. It is idempotent.
func (p *Pool) Close() { p.p.Close() }

// connRow releases its connection once scanned.
type connRow struct {
	r pgx.Row
	c *pgxpool.Conn
}

func (r *connRow) Scan(dest ...any) error {
	defer r.c.Release() // also when Scan panics
	return r.r.Scan(dest...)
}

type errRow struct{ err error }

func (e errRow) Scan(...any) error { return e.err }

// connBatchResults releases its connection on Close, unless the batch
// began a transaction, which then releases it when it ends.
type connBatchResults struct {
	pgx.BatchResults
	c  *pgxpool.Conn
	tx *connTx
}

func (b *connBatchResults) Tx() pgx.Tx {
	if b.tx == nil {
		return nil
	}
	return b.tx
}

func (b *connBatchResults) Close() error {
	err := b.BatchResults.Close()
	if b.c != nil {
		b.c.Release()
		b.c = nil
	}
	return err
}

// connTx releases its connection when it commits or rolls back.
type connTx struct {
	pgx.Tx
	c *pgxpool.Conn
}

func (t *connTx) Commit(ctx context.Context) error {
	err := t.Tx.Commit(ctx)
	t.release()
	return err
}

func (t *connTx) Rollback(ctx context.Context) error {
	err := t.Tx.Rollback(ctx)
	t.release()
	return err
}

func (t *connTx) release() {
	if t.c != nil {
		t.c.Release()
		t.c = nil
	}
}
