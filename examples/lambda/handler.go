package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/rekeyhq/rekey/secretcache"
)

// prefetchTimeout bounds the warm-up at init. A warm-up that fails or times
// out is not fatal: every secret it missed is fetched on use instead (after
// the cache's error backoff when a single Get failed).
const prefetchTimeout = 3 * time.Second

// request is the invocation event.
type request struct {
	// Token is the API key the caller presents.
	Token string `json:"token"`
}

// response is what an invocation returns. It never contains a secret
// value: only which versions served the invocation and what it cost.
type response struct {
	// Authorized reports whether Token matched the API key.
	Authorized bool `json:"authorized"`
	// Versions maps each secret id read to the VersionId that served it.
	Versions map[string]string `json:"versions"`
	// APICalls is the number of Secrets Manager calls the cache made
	// during the invocation, counting background refreshes it started
	// that had begun by the time it returned.
	APICalls uint64 `json:"api_calls"`
	// CacheHit reports that the invocation made no API call.
	CacheHit bool `json:"cache_hit"`
}

// dbCredentials is the part of an RDS-format secret the function needs.
// Port is left out on purpose: RDS secrets carry it as a number or a string.
type dbCredentials struct {
	Host     string `json:"host"`
	Username string `json:"username"`
	Password string `json:"password"`
	DBName   string `json:"dbname"`
}

// handler is the function's state for the life of one execution
// environment. Lambda runs one invocation at a time per environment, so
// Handle's per-invocation counts are exact; under Lambda Managed Instances'
// multi-concurrency they include concurrent invocations' calls.
type handler struct {
	cache    *secretcache.Cache
	apiKeyID string
	dbID     string
	log      *slog.Logger
}

// newHandler builds the handler from the environment read through getenv:
// it creates the cache over client, with optFns applied after the
// environment's settings (the demo and tests shorten intervals), and warms it.
// A failed warm-up is logged, not returned. It returns an error only for
// bad configuration. The caller owns the handler and may Close it.
func newHandler(ctx context.Context, client secretcache.Client, getenv func(string) string, log *slog.Logger, optFns ...func(*secretcache.Options)) (*handler, error) {
	s, err := loadSettings(getenv)
	if err != nil {
		return nil, err
	}
	fns := append([]func(*secretcache.Options){func(o *secretcache.Options) {
		if s.ttl != 0 {
			o.TTL = s.ttl
		}
		if s.maxStale != 0 {
			o.MaxStale = s.maxStale
		}
		o.Logger = log
	}}, optFns...)
	cache, err := secretcache.New(client, fns...)
	if err != nil {
		return nil, fmt.Errorf("lambda: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, prefetchTimeout)
	defer cancel()
	if err := warm(wctx, cache, s.prefetch, s.mode); err != nil {
		// Only ids and SDK errors here, never values: FetchError says so.
		log.Warn("warming the secret cache failed; the secrets it missed are fetched on use",
			"mode", s.mode, "error", err)
	}
	return &handler{cache: cache, apiKeyID: s.apiKeyID, dbID: s.dbID, log: log}, nil
}

// warm loads ids into the cache as mode says.
func warm(ctx context.Context, cache *secretcache.Cache, ids []string, mode string) error {
	switch mode {
	case prefetchBatch:
		return cache.Prefetch(ctx, ids...)
	case prefetchEach:
		errs := make([]error, len(ids))
		var wg sync.WaitGroup
		for i, id := range ids {
			wg.Go(func() { _, errs[i] = cache.Get(ctx, id) })
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	return nil
}

// Handle serves one invocation: it checks req.Token against the API key and
// reads the database credentials, both through the cache. Within TTL of
// the last fetch it makes no API call. Expiry is checked against the clock
// on every read, so an environment thawed after a long freeze never serves
// a value older than TTL+MaxStale: that read waits for a refresh. Its errors
// name secret ids, never values.
func (h *handler) Handle(ctx context.Context, req request) (response, error) {
	before := h.cache.Stats().Calls.Total()
	key, authorized, err := h.authorize(ctx, req.Token)
	if err != nil {
		return response{}, err
	}
	db, err := h.cache.Get(ctx, h.dbID)
	if err != nil {
		return response{}, err
	}
	var creds dbCredentials
	if err := db.Unmarshal(&creds); err != nil {
		return response{}, err
	}
	if creds.Host == "" || creds.Username == "" || creds.Password == "" {
		return response{}, fmt.Errorf("lambda: secret %q lacks host, username or password", h.dbID)
	}
	// A real function would keep a dbretry.Pool in the handler, built at
	// init from the same cache, and query the database here.
	calls := h.cache.Stats().Calls.Total() - before
	return response{
		Authorized: authorized,
		Versions:   map[string]string{h.apiKeyID: key.VersionID(), h.dbID: db.VersionID()},
		APICalls:   calls,
		CacheHit:   calls == 0,
	}, nil
}

// authorize compares token with the cached API key in constant time. On a
// mismatch it asks the cache to Refresh once, because the key may have
// rotated since it was cached; Refresh costs one DescribeSecret (plus one
// GetSecretValue if the key did change) and is bounded by the cache's
// MinRefreshInterval, so a stream of wrong tokens costs at most one call per
// interval per environment.
func (h *handler) authorize(ctx context.Context, token string) (*secretcache.Secret, bool, error) {
	key, err := h.cache.Get(ctx, h.apiKeyID)
	if err != nil {
		return nil, false, err
	}
	if ok, err := matches(key, token); err != nil || ok || token == "" {
		return key, ok, err
	}
	fresh, err := h.cache.Refresh(ctx, h.apiKeyID)
	if err != nil {
		// Keep serving: a failed refresh is not the caller's fault.
		h.log.Warn("refreshing the API key failed", "secret", h.apiKeyID, "error", err)
		return key, false, nil
	}
	if fresh.VersionID() == key.VersionID() {
		return key, false, nil
	}
	ok, err := matches(fresh, token)
	return fresh, ok, err
}

// matches reports whether token equals the secret's string value.
func matches(key *secretcache.Secret, token string) (bool, error) {
	want, err := key.Text()
	if err != nil {
		return false, fmt.Errorf("lambda: API key: %w", err)
	}
	return subtle.ConstantTimeCompare([]byte(token), []byte(want)) == 1, nil
}

// Close closes the cache, stopping its background refreshes.
func (h *handler) Close() error { return h.cache.Close() }

const (
	prefetchBatch = "batch"
	prefetchEach  = "each"
	prefetchOff   = "off"
)

// settings is the function's configuration; see the package doc.
type settings struct {
	apiKeyID, dbID string
	prefetch       []string
	mode           string
	ttl, maxStale  time.Duration
}

// loadSettings reads and checks the configuration through getenv.
func loadSettings(getenv func(string) string) (settings, error) {
	s := settings{
		apiKeyID: strings.TrimSpace(getenv("API_KEY_SECRET_ID")),
		dbID:     strings.TrimSpace(getenv("DB_SECRET_ID")),
		mode:     getenv("PREFETCH_MODE"),
	}
	if s.apiKeyID == "" || s.dbID == "" {
		return settings{}, errors.New("lambda: API_KEY_SECRET_ID and DB_SECRET_ID must be set")
	}
	switch s.mode {
	case "":
		s.mode = prefetchBatch
	case prefetchBatch, prefetchEach, prefetchOff:
	default:
		return settings{}, fmt.Errorf("lambda: PREFETCH_MODE %q is not %q, %q or %q", s.mode, prefetchBatch, prefetchEach, prefetchOff)
	}
	for id := range strings.SplitSeq(getenv("SECRET_IDS"), ",") {
		if id = strings.TrimSpace(id); id != "" {
			s.prefetch = append(s.prefetch, id)
		}
	}
	if len(s.prefetch) == 0 {
		s.prefetch = []string{s.apiKeyID, s.dbID}
	}
	var err error
	if s.ttl, err = duration(getenv, "CACHE_TTL"); err != nil {
		return settings{}, err
	}
	if s.ttl < 0 {
		return settings{}, fmt.Errorf("lambda: CACHE_TTL %v is negative", s.ttl)
	}
	if s.maxStale, err = duration(getenv, "CACHE_MAX_STALE"); err != nil {
		return settings{}, err
	}
	return s, nil
}

// duration parses the Go duration in the environment variable name; unset
// is zero.
func duration(getenv func(string) string, name string) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("lambda: %s: %w", name, err)
	}
	return d, nil
}
