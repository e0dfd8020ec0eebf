package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"
)

// defaultBcryptCost is hash-password's cost: bcrypt's default, about 50ms
// per check on current CPUs; basic_auth caches verified credentials.
const defaultBcryptCost = bcrypt.DefaultCost

func newHashPasswordCmd(e *env) *cobra.Command {
	cost := defaultBcryptCost
	cmd := &cobra.Command{
		Use:   "hash-password",
		Short: "Read a password and print its bcrypt hash for basic_auth",
		Long: `Read a password and print its bcrypt hash, for basic_auth users or an
htpasswd users_file (as NAME:HASH). On a terminal it asks twice without
echo; otherwise it reads the first line of stdin.`,
		Example: "  tlsgate hash-password\n  echo -n secret | tlsgate hash-password --cost 12",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
				return usage(fmt.Errorf("--cost %d is out of range; use %d to %d", cost, bcrypt.MinCost, bcrypt.MaxCost))
			}
			pass, err := readPassword(e)
			if err != nil {
				return err
			}
			hash, err := bcrypt.GenerateFromPassword(pass, cost)
			if err != nil {
				return fmt.Errorf("hash the password: %w", err)
			}
			fmt.Fprintln(e.stdout, string(hash))
			return nil
		},
	}
	cmd.Flags().IntVar(&cost, "cost", defaultBcryptCost, "bcrypt cost (work factor, 4 to 31)")
	return cmd
}

// readPassword prompts twice without echo on a terminal, else reads the
// first line of stdin (without its line end).
func readPassword(e *env) ([]byte, error) {
	var pass []byte
	if fd, ok := terminalFD(e.stdin); ok {
		p, err := prompt(e.stderr, fd, "Password: ")
		if err != nil {
			return nil, err
		}
		again, err := prompt(e.stderr, fd, "Repeat the password: ")
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(p, again) {
			return nil, errors.New("the two passwords differ")
		}
		pass = p
	} else {
		line, err := bufio.NewReader(e.stdin).ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("read the password from stdin: %w", err)
		}
		pass = bytes.TrimRight(line, "\r\n")
	}
	if len(pass) == 0 {
		return nil, usage(errors.New("empty password; type one, or pipe it on stdin"))
	}
	if len(pass) > 72 {
		return nil, usage(errors.New("bcrypt uses at most 72 bytes of a password; choose a shorter one"))
	}
	return pass, nil
}
