package resolver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// # HTTP
//
// All network access of a [Mirrors] (and of the [SumDB] built on it) goes
// through one getter: at most Jobs requests at a time, keep-alive
// connections, credentials only over https (see Credentials in auth.go) and
// never part of a URL that could be printed, a timeout that fires when a
// request makes no progress for Timeout, and retries with exponential
// backoff and jitter on 5xx, 429, transport errors (resets, timeouts) and
// truncated bodies. 4xx answers are never retried.

// statusError is an HTTP answer other than 200.
type statusError struct {
	URL    string // redacted
	Status string
	Code   int
	Body   string // first line of the body, if any
}

func (e *statusError) Error() string {
	msg := "reading " + e.URL + ": " + e.Status
	if e.Body != "" {
		msg += " (server response: " + e.Body + ")"
	}
	return msg
}

// Is makes 404 and 410 answers match fs.ErrNotExist, as in the go command.
func (e *statusError) Is(target error) bool {
	return target == fs.ErrNotExist && (e.Code == http.StatusNotFound || e.Code == http.StatusGone)
}

// retryError reports the last error of a request that kept failing.
type retryError struct {
	attempts int
	err      error
}

func (e *retryError) Error() string {
	return fmt.Sprintf("%v (after %d attempts)", e.err, e.attempts)
}
func (e *retryError) Unwrap() error { return e.err }

// errTruncated reports a body shorter than its Content-Length.
var errTruncated = errors.New("truncated response body")

// getter performs GET requests with bounded parallelism and retries.
type getter struct {
	client    *http.Client
	sem       chan struct{}
	timeout   time.Duration
	retries   int
	retryBase time.Duration
	auth      *credentials
	stats     *fetchCounters

	randMu sync.Mutex
	rand   *rand.Rand
}

type fetchCounters struct {
	requests, bytes, cacheHits, retries, direct atomic.Int64
}

// acquire takes one of the Jobs slots, or fails when ctx is done.
func (g *getter) acquire(ctx context.Context) error {
	select {
	case g.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *getter) release() { <-g.sem }

// redact returns u as text without user information.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// get fetches target and hands the body to consume, which must read it to
// the end. consume is called once per attempt and must start afresh each
// time. The error of consume is retried if it is a transport error or
// errTruncated; other errors from consume are returned as they are.
func (g *getter) get(ctx context.Context, target *url.URL, consume func(body io.Reader, size int64) error) error {
	var err error
	attempts := 0
	for attempt := 0; ; attempt++ {
		attempts++
		var retry bool
		retry, err = g.once(ctx, target, consume)
		if err == nil || !retry || attempt >= g.retries || ctx.Err() != nil {
			break
		}
		g.stats.retries.Add(1)
		if werr := g.backoff(ctx, attempt); werr != nil {
			return werr
		}
	}
	if err != nil && attempts > 1 {
		err = &retryError{attempts, err}
	}
	return err
}

// backoff sleeps retryBase·2^attempt (at most 30s), scaled by a random factor
// in [0.5, 1.5), or until ctx is done.
func (g *getter) backoff(ctx context.Context, attempt int) error {
	d := g.retryBase << min(attempt, 16)
	d = min(d, 30*time.Second)
	g.randMu.Lock()
	f := 0.5 + g.rand.Float64()
	g.randMu.Unlock()
	t := time.NewTimer(time.Duration(float64(d) * f))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// once makes one attempt and reports whether a failure is worth retrying.
func (g *getter) once(ctx context.Context, target *url.URL, consume func(io.Reader, int64) error) (retry bool, err error) {
	if err := g.acquire(ctx); err != nil {
		return false, err
	}
	defer g.release()
	g.stats.requests.Add(1)

	// The timeout fires when the request makes no progress for g.timeout.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var timedOut atomic.Bool
	timer := time.AfterFunc(g.timeout, func() { timedOut.Store(true); cancel() })
	defer timer.Stop()

	u := *target
	user := u.User
	u.User = nil
	shown := u.String()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, shown, nil)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", shown, err)
	}
	switch {
	case user != nil && u.Scheme != "https":
		return false, insecureCredentialsError(target)
	case user != nil:
		pw, _ := user.Password()
		req.SetBasicAuth(user.Username(), pw)
	default:
		g.auth.add(rctx, req)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return g.transportError(ctx, &timedOut, shown, err)
	}
	if user == nil && resp.StatusCode >= 400 && resp.StatusCode < 500 {
		// As the go command: after a 4xx, the GOAUTH commands are asked
		// again for this URL, and the request retried once with what
		// they give.
		if h := g.auth.refresh(rctx, &u, req.Header, resp); h != nil {
			resp.Body.Close()
			if req, err = http.NewRequestWithContext(rctx, http.MethodGet, shown, nil); err != nil {
				return false, fmt.Errorf("reading %s: %w", shown, err)
			}
			req.Header = h
			if resp, err = g.client.Do(req); err != nil {
				return g.transportError(ctx, &timedOut, shown, err)
			}
		}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		se := &statusError{URL: shown, Status: resp.Status, Code: resp.StatusCode, Body: firstLine(resp.Body)}
		return resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests, se
	}
	body := &progressReader{r: resp.Body, want: resp.ContentLength, onRead: func() { timer.Reset(g.timeout) }}
	if err := consume(body, resp.ContentLength); err != nil {
		if errors.Is(err, errTruncated) || errors.Is(err, io.ErrUnexpectedEOF) || body.err != nil && errors.Is(err, body.err) {
			r, e := g.transportError(ctx, &timedOut, shown, err)
			return r, e
		}
		return false, err
	}
	return false, nil
}

// transportError classifies a failed request: the caller's cancellation is
// final, anything else (reset, timeout, truncation) may be retried.
func (g *getter) transportError(ctx context.Context, timedOut *atomic.Bool, shown string, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its text repeats the URL, possibly with a user name
	}
	if timedOut.Load() {
		return true, fmt.Errorf("reading %s: no progress for %v: %w", shown, g.timeout, err)
	}
	return true, fmt.Errorf("reading %s: %w", shown, err)
}

// firstLine returns the first line of a short error body, for messages.
func firstLine(r io.Reader) string {
	buf := make([]byte, 512)
	n, _ := io.ReadFull(r, buf)
	s := string(buf[:n])
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(strings.ToValidUTF8(s, "?"))
}

// progressReader counts bytes, reports truncation against the announced
// length and calls onRead on every successful read.
type progressReader struct {
	r      io.Reader
	n      int64
	want   int64 // -1 if unknown
	onRead func()
	err    error // transport error seen, if any
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if n > 0 && p.onRead != nil {
		p.onRead()
	}
	if err == io.EOF && p.want >= 0 && p.n != p.want {
		err = fmt.Errorf("%w: %d of %d bytes", errTruncated, p.n, p.want)
	}
	if err != nil && err != io.EOF {
		p.err = err
	}
	return n, err
}
