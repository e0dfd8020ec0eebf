package server

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// limitListener accepts at most cap(sem) connections at a time. Past that it
// does not call Accept at all, so new connections wait in the kernel's listen
// backlog (costing no goroutine, buffer or TLS state here) instead of being
// accepted and starved; one is taken from the backlog as soon as an open
// connection closes. Like golang.org/x/net/netutil.LimitListener, plus the
// statistics behind tlsgate_listener_cap_*.
type limitListener struct {
	net.Listener
	sem   chan struct{}
	stats *capStats
	done  chan struct{}
	once  sync.Once
}

func newLimitListener(ln net.Listener, n int, stats *capStats) *limitListener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), stats: stats, done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	default:
		if err := l.waitForSlot(); err != nil {
			return nil, err
		}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

// waitForSlot blocks while the listener is at its cap, counting the wait.
func (l *limitListener) waitForSlot() error {
	l.stats.waits.Add(1)
	l.stats.since.Store(time.Now().UnixNano())
	defer func() {
		since := l.stats.since.Swap(0)
		l.stats.nanos.Add(time.Now().UnixNano() - since)
	}()
	select {
	case l.sem <- struct{}{}:
		return nil
	case <-l.done:
		return net.ErrClosed
	}
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its slot back once, on the first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// capStats are one listener role's time at its max_connections cap. They
// outlive listeners (a reload that moves an address keeps counting).
type capStats struct {
	waits atomic.Int64 // times Accept found the listener full
	nanos atomic.Int64 // finished waits, summed
	since atomic.Int64 // start of the wait in progress (unix ns), 0 if none
	// refused counts HTTP/3 connections refused at the cap: UDP has no
	// backlog to leave them in.
	refused atomic.Int64
}

func (s *capStats) seconds() float64 {
	n := s.nanos.Load()
	if since := s.since.Load(); since != 0 {
		n += time.Now().UnixNano() - since
	}
	return float64(n) / float64(time.Second)
}

// capCollector exports capStats per listener role.
type capCollector struct {
	stats                map[Role]*capStats
	waits, secs, refused *prometheus.Desc
}

func newCapCollector(stats map[Role]*capStats) *capCollector {
	return &capCollector{
		stats: stats,
		waits: prometheus.NewDesc("tlsgate_listener_cap_waits_total",
			"Times a listener reached limits.max_connections and left new connections waiting in the listen backlog, by listener.", []string{"listener"}, nil),
		secs: prometheus.NewDesc("tlsgate_listener_at_cap_seconds_total",
			"Time a listener spent at limits.max_connections (new connections waiting in the listen backlog), by listener.", []string{"listener"}, nil),
		refused: prometheus.NewDesc("tlsgate_listener_cap_refused_total",
			"HTTP/3 connections refused because the listener was at limits.max_connections (UDP has no listen backlog to wait in), by listener.", []string{"listener"}, nil),
	}
}

func (c *capCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.waits
	ch <- c.secs
	ch <- c.refused
}

func (c *capCollector) Collect(ch chan<- prometheus.Metric) {
	for role, s := range c.stats {
		ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, float64(s.waits.Load()), string(role))
		ch <- prometheus.MustNewConstMetric(c.secs, prometheus.CounterValue, s.seconds(), string(role))
		if role == RoleHTTP3 {
			ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(s.refused.Load()), string(role))
		}
	}
}
