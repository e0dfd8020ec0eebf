package dns

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// testServer is a small authoritative DNS server for example.test., in
// process, on one UDP and one TCP port: enough to drive the error paths
// of the providers (the integration tests use real BIND).
type testServer struct {
	Addr string
	// refused is a zone whose updates are refused, as an update-policy does.
	refused string

	// mu guards txt.
	mu  sync.Mutex
	txt map[string][]string // owner name → values
}

const (
	testZone    = "example.test."
	testKeyName = "tlsgate."
	testSecret  = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ==" // base64 of a test-only secret
)

func startTestServer(t *testing.T) *testServer {
	t.Helper()
	s := &testServer{txt: make(map[string][]string), refused: "refused.example.test."}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		t.Skipf("tcp port of the udp one is taken: %v", err)
	}
	s.Addr = pc.LocalAddr().String()
	secrets := map[string]string{testKeyName: testSecret}
	for _, srv := range []*mdns.Server{
		{PacketConn: pc, Handler: s, TsigSecret: secrets, MsgAcceptFunc: acceptUpdates},
		{Listener: ln, Handler: s, TsigSecret: secrets, MsgAcceptFunc: acceptUpdates},
	} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return s
}

// acceptUpdates lets UPDATE messages through, which miekg/dns's default
// filter answers NOTIMP.
func acceptUpdates(h mdns.Header) mdns.MsgAcceptAction {
	if int(h.Bits>>11)&0xF == mdns.OpcodeUpdate {
		return mdns.MsgAccept
	}
	return mdns.DefaultMsgAcceptFunc(h)
}

func (s *testServer) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	m := new(mdns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if r.Opcode == mdns.OpcodeUpdate {
		s.update(w, r, m)
		return
	}
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	switch {
	case !mdns.IsSubDomain(testZone, name):
		m.Rcode = mdns.RcodeRefused
	case q.Qtype == mdns.TypeSOA && name == testZone:
		m.Answer = append(m.Answer, &mdns.SOA{Hdr: mdns.RR_Header{Name: testZone, Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: 60},
			Ns: "ns." + testZone, Mbox: "admin." + testZone, Serial: 1, Refresh: 60, Retry: 60, Expire: 600, Minttl: 60})
	case q.Qtype == mdns.TypeTXT:
		s.mu.Lock()
		for _, v := range s.txt[name] {
			m.Answer = append(m.Answer, &mdns.TXT{Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeTXT, Class: mdns.ClassINET, Ttl: 60}, Txt: splitTXT(v)})
		}
		s.mu.Unlock()
	}
	_ = w.WriteMsg(m)
}

func (s *testServer) update(w mdns.ResponseWriter, r *mdns.Msg, m *mdns.Msg) {
	zone := strings.ToLower(r.Question[0].Name)
	switch {
	case r.IsTsig() == nil:
		m.Rcode = mdns.RcodeRefused
	case w.TsigStatus() != nil:
		// As BIND answers a bad signature: NOTAUTH, with BADSIG in the TSIG.
		m.Rcode = mdns.RcodeNotAuth
		m.SetTsig(r.IsTsig().Hdr.Name, r.IsTsig().Algorithm, 300, time.Now().Unix())
		m.IsTsig().Error = mdns.RcodeBadSig
	case zone == s.refused:
		m.Rcode = mdns.RcodeRefused
	case zone != testZone:
		m.Rcode = mdns.RcodeNotAuth
	default:
		s.mu.Lock()
		for _, rr := range r.Ns {
			txt, ok := rr.(*mdns.TXT)
			if !ok {
				continue
			}
			name, v := strings.ToLower(txt.Hdr.Name), strings.Join(txt.Txt, "")
			if txt.Hdr.Class == mdns.ClassNONE {
				s.txt[name] = deleteValue(s.txt[name], v)
			} else {
				s.txt[name] = append(s.txt[name], v)
			}
		}
		s.mu.Unlock()
	}
	if t := r.IsTsig(); t != nil && m.IsTsig() == nil {
		m.SetTsig(t.Hdr.Name, t.Algorithm, 300, time.Now().Unix())
	}
	_ = w.WriteMsg(m)
}

func deleteValue(list []string, v string) []string {
	out := list[:0]
	for _, x := range list {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

func (s *testServer) values(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.txt[strings.ToLower(mdns.Fqdn(name))]...)
}
