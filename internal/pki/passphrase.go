package pki

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
)

// ReadPassphraseFile reads a passphrase the way `openssl -passin file:`
// does: the first line, without its line ending (\n or \r\n). An empty first
// line is an error, for the command line and the server alike: it is almost
// always a file written wrong, and an empty passphrase protects nothing.
func ReadPassphraseFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read passphrase file: %w", err)
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadBytes('\n')
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read passphrase file %s: %w", path, err)
	}
	line = bytes.TrimRight(line, "\r\n")
	if len(line) == 0 {
		return nil, fmt.Errorf("passphrase file %s: the first line is empty; put the passphrase on it", path)
	}
	return line, nil
}
