package server

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(file, []byte("data_dir: /from/file\namqp_addr: :1111\nheartbeat: 5s\nstomp_addr: :2222\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cfg, _, err := Load([]string{"--config", file, "--amqp-addr", ":3333", "--http-addr", ""},
		[]string{"SLUICE_STOMP_ADDR=:4444", "SLUICE_AMQP_ADDR=:5555"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults()
	want.DataDir = "/from/file" // file
	want.AMQPAddr = ":3333"     // flag beats env and file
	want.STOMPAddr = ":4444"    // env beats file
	want.HTTPAddr = ""          // an empty flag turns the listener off
	want.Heartbeat = 5 * time.Second
	if cfg != want {
		t.Fatalf("got  %+v\nwant %+v", cfg, want)
	}
}

func TestConfigDefaultsAndHelp(t *testing.T) {
	cfg, _, err := Load(nil, nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AMQPAddr != ":5672" || cfg.STOMPAddr != ":61613" || cfg.HTTPAddr != ":15672" || cfg.DataDir != "./data" {
		t.Fatalf("defaults: %+v", cfg)
	}
	var out bytes.Buffer
	if _, _, err := Load([]string{"--help"}, nil, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, f := range []string{"-config", "-data-dir", "-amqp-addr", "-stomp-addr", "-http-addr", "-encryption-keyring", "-sync", "SLUICE_DATA_DIR"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("--help does not mention %s", f)
		}
	}
	if _, v, err := Load([]string{"--version"}, nil, &out); err != nil || !v {
		t.Fatalf("--version: %v %v", v, err)
	}
}

func TestConfigRejectsBadValues(t *testing.T) {
	for _, args := range [][]string{
		{"--frame-max", "100"},
		{"--sync", "sometimes"},
		{"--heartbeat", "soon"},
		{"--unknown-flag"},
		{"stray"},
	} {
		if _, _, err := Load(args, nil, &bytes.Buffer{}); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	_ = os.WriteFile(file, []byte("no_such_setting: 1\n"), 0o600)
	if _, _, err := Load([]string{"--config", file}, nil, &bytes.Buffer{}); err == nil {
		t.Error("unknown YAML key accepted")
	}
}
