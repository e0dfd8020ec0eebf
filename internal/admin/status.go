package admin

import "time"

// Status is what GET /status reports, encoded as JSON.
type Status struct {
	Version    string            `json:"version"`
	Uptime     string            `json:"uptime"`
	Started    time.Time         `json:"started"`
	ConfigFile string            `json:"config_file"`
	Sites      []SiteStatus      `json:"sites"`
	Listeners  map[string]string `json:"listeners"` // by listener role: https, http, admin
}

// SiteStatus describes one site in Status.
type SiteStatus struct {
	Hosts  []string `json:"hosts"`
	TLS    string   `json:"tls"`
	Routes []string `json:"routes"`
}
