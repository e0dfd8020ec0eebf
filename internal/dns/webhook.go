package dns

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/libdns/libdns"
)

// Webhook writes TXT records by POSTing JSON to a user's service:
//
//	POST URL/present  {"fqdn": "_acme-challenge.example.com.", "value": "..."}
//	POST URL/cleanup  {"fqdn": "_acme-challenge.example.com.", "value": "..."}
//
// with "Authorization: Bearer TOKEN" when Token is set. Any 2xx status means
// done; anything else is an error carrying the first line of the body. It is
// safe for concurrent use.
type Webhook struct {
	// URL is the service's base URL; /present and /cleanup are appended.
	URL string
	// Token, when set, is sent as a bearer token.
	Token string
	// Client sends the requests. Nil means a client with a 30s timeout.
	Client *http.Client
}

var (
	_ libdns.RecordAppender = (*Webhook)(nil)
	_ libdns.RecordDeleter  = (*Webhook)(nil)
)

// AppendRecords POSTs each record to URL/present.
func (p *Webhook) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return recs, eachRecord(ctx, "webhook", actionPresent, zone, recs, p.post)
}

// DeleteRecords POSTs each record to URL/cleanup.
func (p *Webhook) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return recs, eachRecord(ctx, "webhook", actionCleanup, zone, recs, p.post)
}

func (p *Webhook) post(ctx context.Context, action, fqdn, value string) error {
	body, err := json.Marshal(map[string]string{"fqdn": fqdn, "value": value})
	if err != nil {
		return err
	}
	url := strings.TrimSuffix(p.URL, "/") + "/" + action
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if p.Token != "" {
		req.Header.Set("Authorization", "Bearer "+p.Token)
	}
	client := p.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	line, _ := bufio.NewReader(io.LimitReader(resp.Body, 1024)).ReadString('\n')
	if line = strings.TrimSpace(line); line != "" {
		return fmt.Errorf("POST %s: %s: %s", url, resp.Status, line)
	}
	return fmt.Errorf("POST %s: %s", url, resp.Status)
}
