package server

import (
	"crypto/rand"
	"slices"
	"sync"

	"github.com/tlsgate/tlsgate/internal/pki"
)

// ticketKeys are the TLS session ticket keys of every site. Without keys of
// their own, the per-site configs GetConfigForClient returns would all use
// the base config's, and a ticket issued for one site could be offered to
// another; with keys made per config, a reload (which builds new configs)
// would end every session. So each site has its own keys, kept across
// reloads, rotated daily; a ticket stays usable for ticketKeysKept days, as
// with crypto/tls's own rotation.
type ticketKeys struct {
	// mu guards bySite.
	mu     sync.Mutex
	bySite map[string][][32]byte // newest first
}

const ticketKeysKept = 7

func newTicketKeys() *ticketKeys { return &ticketKeys{bySite: make(map[string][][32]byte)} }

// forSite returns the keys of the site with these hosts, making its first
// key when it has none.
func (tk *ticketKeys) forSite(hosts []string) [][32]byte {
	id := siteID(hosts)
	tk.mu.Lock()
	defer tk.mu.Unlock()
	keys := tk.bySite[id]
	if keys == nil {
		keys = [][32]byte{newTicketKey()}
		tk.bySite[id] = keys
	}
	return slices.Clone(keys)
}

// rotate puts a new key first for every site in rt, drops keys older than
// ticketKeysKept, forgets sites rt no longer has, and hands the new keys
// to the live TLS configs.
func (tk *ticketKeys) rotate(rt *Runtime) {
	tk.mu.Lock()
	next := make(map[string][][32]byte, len(rt.sites))
	for _, st := range rt.sites {
		id := siteID(st.hosts)
		keys := append([][32]byte{newTicketKey()}, tk.bySite[id]...)
		next[id] = keys[:min(len(keys), ticketKeysKept)]
	}
	tk.bySite = next
	tk.mu.Unlock()
	for _, st := range rt.sites {
		// Safe while serving: crypto/tls guards its keys with its own lock.
		st.tls.SetSessionTicketKeys(tk.forSite(st.hosts))
	}
}

func siteID(hosts []string) string { return pki.NamesKey(hosts) }

func newTicketKey() [32]byte {
	var k [32]byte
	_, _ = rand.Read(k[:]) // crypto/rand.Read never fails (Go 1.24+)
	return k
}
