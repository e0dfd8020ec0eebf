package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/caddyserver/certmagic"

	"github.com/tlsgate/tlsgate/internal/pki"
)

// notStorage are top-level directories of a file storage root that are not
// CertMagic data: lock files, and the local CA, which tlsgate reads as
// plain files under DATA_DIR/ca and never from storage.
var notStorage = []string{"locks", pki.LocalCADirName}

// Copy copies every value from src to dst and returns how many it copied.
// Values are read through src (so sealed ones are opened with its key) and
// written through dst (so they are sealed with its key, or not). Everything
// is read before anything is written, so src and dst may be the same
// backend, e.g. when re-encrypting a data directory in place.
func Copy(ctx context.Context, dst, src certmagic.Storage) (int, error) {
	keys, err := src.List(ctx, "", true)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list source: %w", err)
	}
	type kv struct {
		key   string
		value []byte
	}
	var all []kv
	for _, k := range keys {
		if top, _, _ := strings.Cut(k, "/"); slices.Contains(notStorage, top) {
			continue
		}
		info, err := src.Stat(ctx, k)
		if err != nil {
			return 0, fmt.Errorf("stat %s: %w", k, err)
		}
		if !info.IsTerminal {
			continue
		}
		v, err := src.Load(ctx, k)
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", k, err)
		}
		all = append(all, kv{k, v})
	}
	for i, x := range all {
		if err := dst.Store(ctx, x.key, x.value); err != nil {
			return i, fmt.Errorf("write %s: %w", x.key, err)
		}
	}
	return len(all), nil
}
