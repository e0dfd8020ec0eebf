// Command tlsgate puts HTTPS in front of web apps. See `tlsgate --help`.
package main

import (
	"context"
	"os"

	"github.com/tlsgate/tlsgate/internal/cli"
)

func main() {
	os.Exit(cli.Run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
