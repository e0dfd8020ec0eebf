package server

import (
	"errors"
	"io"
	"log/slog"

	"github.com/caddyserver/certmagic"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/storage"
)

// openStorage builds the certificate storage of cfg's storage block (file
// under data_dir, or etcd; private keys sealed when a key file is set). The
// Closer ends the etcd connection at shutdown. Storage settings are read
// once: changing them needs a restart.
func openStorage(cfg *config.Config, logger *slog.Logger) (certmagic.Storage, io.Closer, error) {
	s, c, err := storage.Open(cfg.Storage, cfg.DataDir, logger.With("component", "storage"))
	var kf *storage.KeyFileError
	if errors.As(err, &kf) {
		err = &ConfigError{Err: err}
	}
	return s, c, err
}
