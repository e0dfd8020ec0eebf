package admin

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tlsgate/tlsgate/internal/certs"
)

// certCollector reports every certificate at scrape time, so the metrics
// are never staler than the instance's own view. Let's Encrypt no longer
// e-mails before expiry: alert on tlsgate_certificate_not_after_seconds.
type certCollector struct {
	list func(context.Context) ([]certs.CertInfo, error)
}

var (
	notAfterDesc = prometheus.NewDesc("tlsgate_certificate_not_after_seconds",
		"When the certificate in service expires (Unix time).",
		[]string{"names", "source", "issuer", "serial"}, nil)
	nextRenewalDesc = prometheus.NewDesc("tlsgate_certificate_next_renewal_seconds",
		"When tlsgate plans to renew the certificate (Unix time).",
		[]string{"names", "source"}, nil)
	failuresDesc = prometheus.NewDesc("tlsgate_certificate_renewal_failures_total",
		"Failed attempts to obtain or renew the certificate.",
		[]string{"names", "source"}, nil)
)

func (c *certCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- notAfterDesc
	ch <- nextRenewalDesc
	ch <- failuresDesc
}

func (c *certCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := c.list(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(notAfterDesc, err)
		return
	}
	for _, ci := range list {
		names := strings.Join(ci.Names, ",")
		if ci.NotAfter != nil {
			ch <- prometheus.MustNewConstMetric(notAfterDesc, prometheus.GaugeValue,
				float64(ci.NotAfter.Unix()), names, ci.Source, ci.Issuer, ci.Serial)
		}
		if ci.NextRenewal != nil {
			ch <- prometheus.MustNewConstMetric(nextRenewalDesc, prometheus.GaugeValue,
				float64(ci.NextRenewal.Unix()), names, ci.Source)
		}
		ch <- prometheus.MustNewConstMetric(failuresDesc, prometheus.CounterValue,
			float64(ci.Failures), names, ci.Source)
	}
}
