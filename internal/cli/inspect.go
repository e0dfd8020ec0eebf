package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlsgate/tlsgate/internal/pki"
)

// inspectReport is what `tlsgate inspect` found; --json prints it as is.
type inspectReport struct {
	Source        string         `json:"source"`
	TLS           *tlsInfo       `json:"tls,omitempty"`
	Certificates  []pki.CertInfo `json:"certificates"`
	ChainProblems []string       `json:"chain_problems"`
	CSRs          []pki.CSRInfo  `json:"csrs,omitempty"`
	Keys          []pki.KeyInfo  `json:"keys,omitempty"`
}

// tlsInfo describes the connection when inspecting a server.
type tlsInfo struct {
	Address     string `json:"address"`
	ServerName  string `json:"server_name"`
	Version     string `json:"version"`
	ALPN        string `json:"alpn"`
	Verified    bool   `json:"verified"`
	VerifyError string `json:"verify_error,omitempty"`
}

func newInspectCmd(e *env) *cobra.Command {
	var asJSON bool
	var serverName string
	cmd := &cobra.Command{
		Use:   "inspect FILE | https://HOST[:PORT] [--json] [--servername NAME]",
		Short: "Show what is in a certificate, chain, CSR or key file, or what a server sends",
		Long: `Summarize a PEM or DER file: for certificates the subject, names (SANs),
issuer, validity with days left, key type and size, usages, fingerprints, and
problems with the order of a chain; for a CSR its names and whether its
signature is valid; for a private key its type and whether it is encrypted
(no passphrase needed). For https://HOST[:PORT] it connects and shows the chain
the server sends and whether the system roots trust it. "-" reads stdin.`,
		Example: `  tlsgate inspect server.crt
  tlsgate inspect server.csr
  tlsgate inspect https://localhost:8443 --json
  tlsgate inspect https://127.0.0.1:8443 --servername localhost`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usage(errors.New("give a file or an https:// URL, e.g. 'tlsgate inspect server.crt'"))
			}
			var rep *inspectReport
			var err error
			if strings.HasPrefix(strings.ToLower(args[0]), "https://") {
				rep, err = inspectURL(cmd.Context(), args[0], serverName)
			} else {
				rep, err = inspectFile(e.stdin, args[0])
			}
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			rep.print(e.stdout, time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON for scripts")
	cmd.Flags().StringVar(&serverName, "servername", "", "SNI name to send (default: the URL's host)")
	return cmd
}

func inspectFile(stdin io.Reader, path string) (*inspectReport, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	rep := &inspectReport{Source: path}
	b, err := pki.ParseBundle(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rep.CSRs, rep.Keys = b.CSRs, b.Keys
	certs := b.Certificates
	rep.setCertificates(certs, time.Now())
	if len(rep.Certificates)+len(rep.CSRs)+len(rep.Keys) == 0 {
		return nil, fmt.Errorf("%s holds no certificate, certificate request or private key (PEM or DER)", path)
	}
	return rep, nil
}

func (r *inspectReport) setCertificates(certs []*x509.Certificate, now time.Time) {
	r.Certificates = []pki.CertInfo{}
	for _, c := range certs {
		r.Certificates = append(r.Certificates, pki.DescribeCertificate(c, now))
	}
	if len(certs) > 0 {
		r.ChainProblems = pki.ChainProblems(certs)
	}
	if r.ChainProblems == nil {
		r.ChainProblems = []string{}
	}
}

func inspectURL(ctx context.Context, raw, serverName string) (*inspectReport, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return nil, usage(fmt.Errorf("%q is not a URL like https://HOST[:PORT]", raw))
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	if serverName == "" {
		serverName = u.Hostname()
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// We verify after the handshake ourselves, so an untrusted or broken
	// chain can still be shown.
	d := tls.Dialer{Config: &tls.Config{ServerName: serverName, InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	defer conn.Close()
	st := conn.(*tls.Conn).ConnectionState()
	info := &tlsInfo{Address: addr, ServerName: serverName, Version: tls.VersionName(st.Version), ALPN: st.NegotiatedProtocol}
	if len(st.PeerCertificates) > 0 {
		inter := x509.NewCertPool()
		for _, c := range st.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, verr := st.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: serverName, Intermediates: inter})
		info.Verified = verr == nil
		if verr != nil {
			info.VerifyError = verr.Error()
		}
	}
	rep := &inspectReport{Source: raw, TLS: info}
	rep.setCertificates(st.PeerCertificates, time.Now())
	return rep, nil
}

func (r *inspectReport) print(w io.Writer, now time.Time) {
	if t := r.TLS; t != nil {
		fmt.Fprintf(w, "%s (%s, SNI %q): %s", r.Source, t.Address, t.ServerName, t.Version)
		if t.ALPN != "" {
			fmt.Fprintf(w, ", ALPN %s", t.ALPN)
		}
		fmt.Fprintln(w)
		if t.Verified {
			fmt.Fprintln(w, "Trusted by the system roots: yes")
		} else {
			fmt.Fprintf(w, "Trusted by the system roots: no: %s\n", t.VerifyError)
		}
		fmt.Fprintln(w)
	}
	for i, c := range r.Certificates {
		printCert(w, i+1, len(r.Certificates), c, now)
	}
	if len(r.Certificates) > 1 {
		if len(r.ChainProblems) == 0 {
			fmt.Fprintln(w, "Chain order: ok (each certificate is issued by the next)")
		} else {
			fmt.Fprintln(w, "Chain problems:")
			for _, p := range r.ChainProblems {
				fmt.Fprintf(w, "  - %s\n", p)
			}
		}
		fmt.Fprintln(w)
	}
	for _, c := range r.CSRs {
		sig := "valid"
		if !c.SignatureValid {
			sig = "INVALID (the request was altered or is broken)"
		}
		fmt.Fprintf(w, "Certificate request\n  Subject:   %s\n  Names:     %s\n  Key:       %s\n  Signature: %s\n\n",
			c.Subject, orNone(c.Names), keyText(c.KeyType, c.KeyBits), sig)
	}
	for _, k := range r.Keys {
		enc, typ := "not encrypted", keyText(k.Type, k.Bits)
		if k.Encrypted {
			enc = "encrypted with a passphrase"
		}
		if k.Type == "encrypted" {
			typ = "unknown until decrypted (encrypted PKCS#8 hides it)"
		}
		fmt.Fprintf(w, "Private key\n  Type:      %s\n  Protected: %s\n\n", typ, enc)
	}
}

func printCert(w io.Writer, n, total int, c pki.CertInfo, now time.Time) {
	role := "leaf"
	switch {
	case c.IsCA && c.SelfSigned:
		role = "root CA"
	case c.IsCA:
		role = "intermediate CA"
	}
	fmt.Fprintf(w, "Certificate %d of %d (%s)\n", n, total, role)
	fmt.Fprintf(w, "  Subject:   %s\n  Names:     %s\n  Issuer:    %s\n", c.Subject, orNone(c.SANs), c.Issuer)
	fmt.Fprintf(w, "  Valid:     %s to %s (%s)\n", c.NotBefore.UTC().Format(time.DateTime), c.NotAfter.UTC().Format("2006-01-02 15:04:05 MST"), validityText(c, now))
	fmt.Fprintf(w, "  Key:       %s\n  Serial:    %s\n", keyText(c.KeyType, c.KeyBits), c.Serial)
	usage := append(append([]string{}, c.KeyUsage...), c.ExtKeyUsage...)
	fmt.Fprintf(w, "  Usage:     %s\n", orNone(usage))
	fmt.Fprintf(w, "  SHA-256:   %s\n  SHA-1:     %s\n\n", colonHex(c.SHA256), colonHex(c.SHA1))
}

func validityText(c pki.CertInfo, now time.Time) string {
	switch {
	case now.Before(c.NotBefore):
		return "NOT YET VALID"
	case now.After(c.NotAfter):
		return fmt.Sprintf("EXPIRED %d days ago", -c.DaysLeft)
	case c.DaysLeft == 1:
		return "1 day left"
	}
	return fmt.Sprintf("%d days left", c.DaysLeft)
}

func keyText(typ string, bits int) string {
	if bits == 0 {
		return typ
	}
	return fmt.Sprintf("%s (%d bits)", typ, bits)
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, ", ")
}

// colonHex writes a hex fingerprint as openssl -fingerprint does.
func colonHex(h string) string {
	var b strings.Builder
	for i := 0; i+1 < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strings.ToUpper(h[i : i+2]))
	}
	return b.String()
}
