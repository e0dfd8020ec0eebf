//go:build !linux && !darwin

package truststore

import (
	"context"
	"errors"
)

// DefaultSystemStore returns the zero SystemStore: the system store of this
// OS is not supported yet, so Install reports it as skipped.
func DefaultSystemStore() SystemStore { return SystemStore{} }

// SystemBundlePaths is empty: this OS keeps no PEM bundle we know of.
func SystemBundlePaths() []string { return nil }

func firefoxProfileGlobs(home string) []string { return nil }

var errUnsupported = errors.New("the system trust store of this OS is not supported")

func (s SystemStore) install(ctx context.Context, root Root, o *Options) (bool, string, error) {
	return false, "", errUnsupported
}

func (s SystemStore) uninstall(ctx context.Context, root Root, o *Options) (bool, string, error) {
	return false, "", errUnsupported
}
