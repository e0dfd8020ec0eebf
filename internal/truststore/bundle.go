package truststore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Bundle returns the system's trusted roots, read from the first of
// systemFiles that exists (see SystemBundlePaths), followed by extra (PEM).
// from is the file the system roots came from, "" when none was found; the
// bundle then holds extra alone. Clients pointed at it (SSL_CERT_FILE,
// REQUESTS_CA_BUNDLE) keep trusting public sites and also trust extra.
func Bundle(systemFiles []string, extra []byte) (data []byte, from string, err error) {
	var b bytes.Buffer
	for _, f := range systemFiles {
		sys, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("read system roots %s: %w", f, err)
		}
		b.Write(sys)
		from = f
		break
	}
	if b.Len() > 0 && !bytes.HasSuffix(b.Bytes(), []byte("\n")) {
		b.WriteByte('\n')
	}
	b.Write(extra)
	return b.Bytes(), from, nil
}
