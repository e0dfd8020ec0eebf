package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Webhook POSTs each event as JSON to URL. An attempt that times out, cannot
// connect, or gets 408, 429 or a 5xx answer is retried with a doubling
// delay; any other non-2xx answer is final (the receiver refused the body).
// The zero value of each field other than URL has the meaning its comment gives.
type Webhook struct {
	URL string
	// Headers are added to every request (Authorization, for one).
	Headers map[string]string
	// Timeout bounds one attempt; zero means only the caller's context
	// does. Config: alerts.webhook.timeout (its default is config's).
	Timeout time.Duration
	// Attempts is how many times one event is tried; zero means once.
	// Config: alerts.webhook.attempts (its default is config's).
	Attempts int
	// Backoff is the wait before the first retry, doubled before each
	// next one (at most a minute); zero means 1s.
	Backoff time.Duration
	// Client sends the requests; nil means one with its own transport.
	Client *http.Client
	// Slack sends {"text": Summary(e)} instead of the event, the body
	// Slack, Mattermost and Rocket.Chat incoming webhooks read.
	Slack bool
}

// Kind is "webhook".
func (w *Webhook) Kind() string { return "webhook" }

// errFinal marks an answer that a retry would not change.
var errFinal = errors.New("not retried")

// Deliver POSTs body, retrying as the type's comment says.
func (w *Webhook) Deliver(ctx context.Context, e Event, body []byte) error {
	attempts := max(w.Attempts, 1)
	delay := w.Backoff
	if delay <= 0 {
		delay = time.Second
	}
	if w.Slack {
		body, _ = json.Marshal(map[string]string{"text": Summary(e)})
	}
	var err error
	for i := range attempts {
		if i > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%w (gave up after %d attempts: shutting down)", err, i)
			case <-t.C:
			}
			delay = min(2*delay, time.Minute)
		}
		if err = w.post(ctx, body); err == nil || errors.Is(err, errFinal) {
			return err
		}
	}
	return fmt.Errorf("%w (gave up after %d attempts)", err, attempts)
}

func (w *Webhook) post(ctx context.Context, body []byte) error {
	if w.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.Timeout)
		defer cancel()
	}
	where := redactURL(w.URL)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: %w: bad URL", where, errFinal)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tlsgate-alerts")
	for k, v := range w.Headers {
		req.Header.Set(k, v)
	}
	client := w.Client
	if client == nil {
		client = defaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		// url.Error repeats the whole URL, secret path and all.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("webhook %s: %w", where, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return fmt.Errorf("webhook %s: answered %s", where, resp.Status)
	default:
		return fmt.Errorf("webhook %s: answered %s: %w", where, resp.Status, errFinal)
	}
}

// redactURL is u for logs: scheme and host only, since webhook URLs often
// carry their secret in the path (Slack's /services/T/B/TOKEN) or query.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Scheme + "://" + p.Host + "/…"
}

// defaultClient has its own transport, so alert traffic never shares
// connections (or their limits) with proxied requests. It does not follow
// redirects: a POST redirected would arrive as a GET, or somewhere else.
var defaultClient = &http.Client{
	Transport:     http.DefaultTransport.(*http.Transport).Clone(),
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}
