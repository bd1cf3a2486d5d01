package server

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// The TLS settings come from flags, SLUICE_* and the YAML file like the
// others, and values that cannot work are refused when loading.
func TestConfigTLSSettings(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sluice.yaml")
	if err := os.WriteFile(file, []byte("tls_cert: /file/cert.pem\ntls_key: /file/key.pem\ntls_cert_login_from: subject_alternative_name\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := Load([]string{"--config", file, "--tls-client-auth", "require", "--amqp-addr", ""},
		[]string{"SLUICE_TLS_CA=/env/ca.pem", "SLUICE_TLS_CERT_LOGIN_SAN_TYPE=email", "SLUICE_STOMPS_ADDR=:7000"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLSCert != "/file/cert.pem" || cfg.TLSKey != "/file/key.pem" || cfg.TLSCA != "/env/ca.pem" ||
		cfg.TLSClientAuth != "require" || cfg.TLSCertLoginFrom != "subject_alternative_name" ||
		cfg.TLSCertLoginSANType != "email" || cfg.STOMPSAddr != ":7000" || cfg.AMQPSAddr != ":5671" ||
		cfg.HTTPSAddr != ":15671" || cfg.AMQPAddr != "" {
		t.Fatalf("config %+v", cfg)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", "c.pem"}, "tls-cert and tls-key go together"},
		{[]string{"--tls-client-auth", "optional"}, "tls-client-auth must be"},
		{[]string{"--tls-cert", "c", "--tls-key", "k", "--tls-client-auth", "request"}, "needs tls-ca"},
		{[]string{"--tls-cert-login-from", "serial_number"}, "tls-cert-login-from must be"},
		{[]string{"--tls-cert-login-san-type", "x400"}, "tls-cert-login-san-type must be"},
	} {
		if _, _, err := Load(c.args, nil, io.Discard); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}

// A certificate that cannot be loaded stops New: a broker configured for
// TLS must not come up without it.
func TestNewRefusesBadCertificate(t *testing.T) {
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.TLSCert, cfg.TLSKey = filepath.Join(cfg.DataDir, "missing.pem"), filepath.Join(cfg.DataDir, "missing.key")
	if _, err := New(cfg, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "tls-cert") {
		t.Fatalf("New with a missing certificate: %v", err)
	}
}
