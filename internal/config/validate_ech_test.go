package config

import (
	"testing"
	"time"
)

func TestValidateECH(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want errorWant
	}{
		{"no public_name", "ech: {rotate: 24h}\n" + baseSite, errorWant{"ech.public_name", "1:6", "needs a public_name"}},
		{"public_name wildcard", "ech: {public_name: \"*.example.com\"}\n" + baseSite, errorWant{"ech.public_name", "1:20", "is a wildcard"}},
		{"public_name IP", "ech: {public_name: 192.0.2.1}\n" + baseSite, errorWant{"ech.public_name", "1:20", "is an IP address"}},
		{"public_name invalid", "ech: {public_name: bad_name.test}\n" + baseSite, errorWant{"ech.public_name", "1:20", "not a valid DNS name"}},
		// publish writes through rfc2136 only; an exec provider cannot.
		{"publish without dns", "ech:\n  public_name: ech.test\n  publish: true\n" + baseSite, errorWant{"ech.publish", "3:12", "rfc2136"}},
		{"publish with exec dns", "acme: {dns: {provider: exec, command: ./hook}}\nech: {public_name: ech.test, publish: true}\n" + baseSite,
			errorWant{"ech.publish", "2:39", "rfc2136"}},
		{"rotate too short", "ech: {public_name: ech.test, rotate: 10ms}\n" + baseSite, errorWant{"ech.rotate", "1:38", "too short"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tt.yaml, "hook"), LoadOptions{LookupEnv: noEnv})
			checkErrors(t, err, tt.want)
		})
	}
}

func TestECHDefaults(t *testing.T) {
	c := mustLoad(t, "acme: {dns: {provider: rfc2136, server: 127.0.0.1:53}}\nech: {public_name: ech.test, publish: true}\n"+baseSite).WithDefaults()
	if got := time.Duration(c.ECH.Rotate); got != 720*time.Hour {
		t.Errorf("ech.rotate = %s; want 720h", got)
	}
	if off := mustLoad(t, baseSite).WithDefaults(); off.ECH != nil {
		t.Errorf("ech = %+v without an ech block; want nil (off)", off.ECH)
	}
}
