package certs

import "time"

// maintain re-reads file certificates whose files changed, and once a day
// (first a minute after start) renews ad-hoc certificates in their last
// month and warns about certificates close to expiry.
func (m *Manager) maintain() {
	defer close(m.done)
	files := time.NewTicker(m.opts.FilePollInterval)
	defer files.Stop()
	expiry := time.NewTimer(time.Minute)
	defer expiry.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-files.C:
			m.reloadChangedFiles()
		case <-expiry.C:
			m.refreshAdhoc()
			m.warnExpiring()
			expiry.Reset(24 * time.Hour)
		}
	}
}

// expiryWarning is how close to expiry a certificate must be for the daily
// warning. Let's Encrypt no longer e-mails about expiry, so tlsgate must.
// Short-lived certificates (local leaves, 6-day ACME profiles) are always
// within a week of expiry; for them the warning starts where their renewal
// is overdue: the last third of their lifetime.
const expiryWarning = 7 * 24 * time.Hour

func warnWindow(c CertInfo) time.Duration {
	if c.NotBefore == nil {
		return expiryWarning
	}
	return min(expiryWarning, c.NotAfter.Sub(*c.NotBefore)/3)
}

func (m *Manager) warnExpiring() {
	list, err := m.List(m.ctx)
	if err != nil {
		m.logger.Warn("could not check certificate expiry", "error", err)
		return
	}
	now := m.opts.Now()
	for _, c := range list {
		if c.NotAfter == nil || c.NotAfter.Sub(now) > warnWindow(c) {
			continue
		}
		m.logger.Warn("certificate expires soon", "names", c.Names, "source", c.Source,
			"not_after", c.NotAfter.Format(time.RFC3339), "days_left", int(c.NotAfter.Sub(now).Hours()/24),
			"last_error", c.LastError)
	}
}
