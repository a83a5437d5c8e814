// Package httpjobs is ytx's second job transport: the manager POSTs each job
// message straight to the workers (a Service in front of them, in a
// cluster), and a worker queues it in memory until a slot is free.
//
// It is the simple path, with weaker guarantees than Kafka: a job a worker
// accepted lives only in that worker's memory, so a worker that dies (kill
// -9, OOM) loses the jobs it had queued; the manager sends them again once
// they have waited --queued-timeout unclaimed. A worker that is told to stop
// hands its queued jobs back at once. A full queue answers 503 and the
// manager tries again later, so a burst waits in the manager (Pending), not
// in memory.
//
// The wire format is the job message of internal/job, as JSON, in a POST to
// /v1/jobs with "Authorization: Bearer <token>"; 202 means the job is
// queued, 401 that the token was missing or wrong. The token is a secret
// shared by the manager and the workers, read from a file (see Token).
package httpjobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"ytx.dev/ytx/internal/job"
)

// Path is where a worker takes jobs.
const Path = "/v1/jobs"

// DefaultTimeout bounds one POST whose context has no deadline.
const DefaultTimeout = 10 * time.Second

// ErrBusy is returned by Publish when the worker's queue is full, the
// worker is stopping, it is not ready (its storage is missing, say), or
// it does not know the job's kind (an older worker during an upgrade):
// another try (on the same Service, another worker, or later) may
// succeed. The error wrapping it carries the worker's own words.
var ErrBusy = errors.New("the worker's job queue is full, it is stopping, or it is not ready")

// ErrTokenRefused is returned by Publish when the worker answered 401: the
// manager's token is not the workers'. The manager retries as for any
// failed publish, without spending an attempt; the text says what to check,
// as it ends up in the resource's condition and event.
var ErrTokenRefused = errors.New("the workers refused the job token (401 Unauthorized): the manager's and the workers' " + TokenFlag +
	" must hold the same token; check that both mount the same key of the same Secret (the chart's jobToken.secretName) and that it holds a token")

// Publisher sends job messages to the workers' endpoint. It is safe for
// concurrent use.
type Publisher struct {
	url    string
	token  *Token
	client *http.Client
}

// CheckURL checks a --worker-url: http:// or https://, with a host.
func CheckURL(base string) (*url.URL, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("--worker-url %q: want http://host:port of the workers' Service, e.g. http://ytx-worker.ytx.svc:8090", base)
	}
	return u, nil
}

// NewPublisher checks base and returns a Publisher that POSTs to base +
// Path with token.
func NewPublisher(base string, token *Token, client *http.Client) (*Publisher, error) {
	u, err := CheckURL(base)
	if err != nil {
		return nil, err
	}
	if token == nil {
		return nil, fmt.Errorf("http jobs: no token (%s): the workers take no job without it", TokenFlag)
	}
	if client == nil {
		// A Service spreads connections, not requests, over its pods: a
		// kept-alive connection would send every job (and every retry
		// after a 503) to the same worker. One connection per job costs
		// a handshake inside the cluster and spreads them.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DisableKeepAlives = true
		client = &http.Client{Transport: t}
	}
	return &Publisher{url: strings.TrimSuffix(u.String(), "/") + Path, token: token, client: client}, nil
}

// Publish sends m; it returns nil once a worker has queued it. Refused with
// the current token within the rotation window of a change, it tries the
// token before: the worker it reached may not have the new one yet.
func (p *Publisher) Publish(ctx context.Context, m job.Message) error {
	body, err := job.Encode(m)
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	current, previous := p.token.tokens()
	err = p.post(ctx, m, body, current.text)
	if errors.Is(err, ErrTokenRefused) && previous.text != "" {
		err = p.post(ctx, m, body, previous.text)
	}
	return err
}

// post sends one request with token.
func (p *Publisher) post(ctx context.Context, m job.Message, body []byte, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("send job %s to %s: %w", m, p.url, err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode == http.StatusAccepted:
		return nil
	case resp.StatusCode == http.StatusServiceUnavailable:
		if why := strings.TrimSpace(string(text)); why != "" {
			// Which of the three, and for "not ready" why, for the
			// resource's condition and event.
			return fmt.Errorf("send job %s to %s: %w: %s", m, p.url, ErrBusy, why)
		}
		return fmt.Errorf("send job %s to %s: %w", m, p.url, ErrBusy)
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("send job %s to %s: %w", m, p.url, ErrTokenRefused)
	case resp.StatusCode == http.StatusBadRequest && m.Kind != job.KindExtraction:
		// A worker built before job kinds existed refuses the "kind"
		// field as an unknown one: it is older, not the job wrong.
		// Another try may reach a newer worker.
		return fmt.Errorf("send job %s to %s: %w: the worker refused a job of kind %q (an older worker, during an upgrade?): %s",
			m, p.url, ErrBusy, m.Kind, strings.TrimSpace(string(text)))
	default:
		return fmt.Errorf("send job %s to %s: %s: %s", m, p.url, resp.Status, strings.TrimSpace(string(text)))
	}
}

// Close releases idle connections.
func (p *Publisher) Close() error {
	p.client.CloseIdleConnections()
	return nil
}

// Where names the destination in conditions and events.
func (p *Publisher) Where() string { return "the workers at " + strings.TrimSuffix(p.url, Path) }
