package config

import (
	"go.yaml.in/yaml/v3"
)

// UnmarshalYAML reads a mode string (acme, local, adhoc) or a mapping
// {cert_file, key_file, key_passphrase_file}, which sets Mode to "file".
// Unknown keys are errors; ${VAR} is not expanded here (Parse does that).
func (t *TLS) UnmarshalYAML(n *yaml.Node) error {
	return decodeStandalone(n, t)
}

// MarshalYAML writes the mode string, or the mapping for Mode "file".
func (t TLS) MarshalYAML() (any, error) {
	if t.Mode != TLSFile && t.CertFile == "" && t.KeyFile == "" {
		return t.Mode, nil
	}
	type plain TLS // drops the methods, so no recursion
	return plain(t), nil
}

// UnmarshalYAML reads a directory string or a mapping {root, browse, index}.
// Unknown keys are errors; ${VAR} is not expanded here (Parse does that).
func (s *Static) UnmarshalYAML(n *yaml.Node) error {
	return decodeStandalone(n, s)
}
