package admin

import "time"

// Status is what GET /status reports, encoded as JSON.
type Status struct {
	Version string    `json:"version"`
	Uptime  string    `json:"uptime"`
	Started time.Time `json:"started"`
	// Now is the instance's clock, so the dashboard counts days left
	// the way the instance does.
	Now        time.Time         `json:"now"`
	ConfigFile string            `json:"config_file"`
	Sites      []SiteStatus      `json:"sites"`
	Listeners  map[string]string `json:"listeners"` // by listener role: https, http, admin
	// ExpiryWarningDays are alerts.expiry_warnings in days, for the
	// dashboard's colours.
	ExpiryWarningDays []float64        `json:"expiry_warning_days"`
	Upstreams         []UpstreamStatus `json:"upstreams,omitempty"`
}

// UpstreamStatus is one upstream of one proxy route in Status.
type UpstreamStatus struct {
	Route    string `json:"route"` // site name and path, e.g. "app.example.com/api/"
	Upstream string `json:"upstream"`
	Healthy  bool   `json:"healthy"` // in rotation
	// Checkers is the number of health check goroutines probing it.
	Checkers int `json:"checkers"`
}

// SiteStatus describes one site in Status.
type SiteStatus struct {
	Hosts  []string `json:"hosts"`
	TLS    string   `json:"tls"`
	Routes []string `json:"routes"`
	// RouteActions say what each of Routes does ("proxy 127.0.0.1:8080",
	// "static /srv/www"), in the same order.
	RouteActions []string `json:"route_actions"`
}
