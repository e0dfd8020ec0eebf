package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/tlsgate/tlsgate/internal/pki"
)

// Environment variables that hold passphrases, for scripts and CI where a
// file is awkward. A passphrase is never taken from a flag value: it would
// show in `ps` and in shell history.
const (
	envKeyPassphrase   = "TLSGATE_KEY_PASSPHRASE"    // private keys: key, csr --key, ca issue --key-out
	envCAKeyPassphrase = "TLSGATE_CA_KEY_PASSPHRASE" // --ca-key
	envP12Passphrase   = "TLSGATE_P12_PASSPHRASE"    // --p12-out
)

// passphraseSource is where one passphrase may come from, in this order:
// the file named by a flag (its first line, as `openssl -passin file:`),
// an environment variable, a prompt when stdin is a terminal.
type passphraseSource struct {
	flag   string // flag name without dashes, e.g. "key-passphrase-file"
	file   string // the flag's value
	envVar string
	what   string // what it unlocks, for prompts: "the private key"
}

func newPassphraseSource(fs *pflag.FlagSet, flag, envVar, what string) *passphraseSource {
	p := &passphraseSource{flag: flag, envVar: envVar, what: what}
	fs.StringVar(&p.file, flag, "", fmt.Sprintf("file whose first line is the passphrase for %s (or set %s)", what, envVar))
	return p
}

// given reports whether a passphrase comes without prompting.
func (p *passphraseSource) given(e *env) bool {
	return p.file != "" || e.getenv(p.envVar) != ""
}

// hint is how to give the passphrase, for error messages.
func (p *passphraseSource) hint() string {
	return fmt.Sprintf("give it with --%s FILE or the %s environment variable", p.flag, p.envVar)
}

// fromPrompt is the origin of a passphrase typed at the prompt.
const fromPrompt = "the prompt"

// get returns the passphrase and where it came from. need says why one is
// needed ("key.pem is encrypted"); confirm asks twice at a prompt, for new
// secrets. Without any source and without a terminal it is a usage error.
func (p *passphraseSource) get(e *env, need string, confirm bool) ([]byte, string, error) {
	if p.file != "" {
		pass, err := pki.ReadPassphraseFile(p.file)
		if err != nil {
			return nil, "", fmt.Errorf("--%s: %w", p.flag, err)
		}
		return pass, "--" + p.flag + " " + p.file, nil
	}
	if v := e.getenv(p.envVar); v != "" {
		return []byte(v), "$" + p.envVar, nil
	}
	fd, ok := terminalFD(e.stdin)
	if !ok {
		return nil, "", usage(fmt.Errorf("%s and needs a passphrase: %s (stdin is not a terminal, so tlsgate cannot ask)", need, p.hint()))
	}
	pass, err := prompt(e.stderr, fd, fmt.Sprintf("Passphrase for %s: ", p.what))
	if err != nil {
		return nil, "", err
	}
	if confirm {
		again, err := prompt(e.stderr, fd, "Repeat the passphrase: ")
		if err != nil {
			return nil, "", err
		}
		if !bytes.Equal(pass, again) {
			return nil, "", errors.New("the two passphrases differ; nothing was written")
		}
	}
	if len(pass) == 0 {
		return nil, "", errors.New("empty passphrase; nothing was written")
	}
	return pass, fromPrompt, nil
}

// terminalFD returns stdin's descriptor when it is a terminal.
func terminalFD(r io.Reader) (int, bool) {
	f, ok := r.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	return int(f.Fd()), true
}

func prompt(w io.Writer, fd int, text string) ([]byte, error) {
	fmt.Fprint(w, text)
	pass, err := term.ReadPassword(fd)
	fmt.Fprintln(w)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	return pass, nil
}

// unlock runs open with the passphrase for the encrypted key in path (or
// with none when data is not encrypted). A wrong passphrase says so and
// where it came from; at a prompt the user gets three tries.
func (p *passphraseSource) unlock(e *env, path string, data []byte, open func(pass []byte) error) error {
	if !pki.IsEncryptedKeyPEM(data) {
		return open(nil)
	}
	for try := 1; ; try++ {
		pass, from, err := p.get(e, path+" is encrypted", false)
		if err != nil {
			return err
		}
		err = open(pass)
		if !errors.Is(err, pki.ErrWrongPassphrase) {
			return err
		}
		if from != fromPrompt || try == 3 {
			return fmt.Errorf("wrong passphrase for %s (from %s)", path, from)
		}
		fmt.Fprintln(e.stderr, "Wrong passphrase, try again.")
	}
}

// newKeyPassphrase returns the passphrase to encrypt a new key with, nil
// for an unencrypted key: one comes from the flag's file or the environment,
// or from a prompt when encrypt is set.
func (p *passphraseSource) newKeyPassphrase(e *env, encrypt bool, need string) ([]byte, string, error) {
	if !encrypt && !p.given(e) {
		return nil, "", nil
	}
	return p.get(e, need, true)
}

// describeFrom turns a passphrase origin into a phrase for output.
func describeFrom(from string) string {
	if strings.HasPrefix(from, "$") {
		return "from the environment variable " + from[1:]
	}
	if from == fromPrompt {
		return "typed at the prompt"
	}
	return "from " + from
}
