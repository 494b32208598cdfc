package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigFile: options by flag name, interpolation, secrets from files,
// processors; flags and environment win over the file.
func TestConfigFile(t *testing.T) {
	secret := writeFile(t, "pw", "s3cr3t\n")
	path := writeFile(t, "shipper.yaml", `
elasticsearch-url: [http://es-1:9200, http://es-2:9200]
elasticsearch-username: shipper
elasticsearch-password: ${file:`+secret+`}
dataset: ${APP:-fromdefault}
namespace: ${NS}
workers: 4
input: [stdin, file]
labels: {team: shop, tier: "1"}
processors:
  - type: drop
    when: log.level == "debug"
  - type: add
    fields: {env: prod, tier: 3, on: true}
pipelines:
  - name: shop
    input: file
    when: kubernetes.namespace == "shop"
    processors:
      - type: rename
        fields: {msg: message, lvl: log.level}
`)
	c, err := Load("t", []string{"--config", path, "--workers=6"}, env("NS", "prod", "SHIPPER_DATASET_UNUSED", "x", "SHIPPER_NAMESPACE", "envwins"), io.Discard)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if strings.Join(c.ElasticsearchURLs, ",") != "http://es-1:9200,http://es-2:9200" || c.Password != "s3cr3t" || c.Username != "shipper" {
		t.Errorf("destination: %v %q %q", c.ElasticsearchURLs, c.Username, c.Password)
	}
	if c.Dataset != "fromdefault" || c.Namespace != "envwins" || c.Workers != 6 {
		t.Errorf("dataset %q (want fromdefault), namespace %q (want envwins: environment wins), workers %d (want 6: flag wins)", c.Dataset, c.Namespace, c.Workers)
	}
	if !c.Has(InputFile) || len(c.File.Labels) != 2 {
		t.Errorf("inputs %v labels %v", c.Inputs, c.File.Labels)
	}
	if len(c.Processing.Processors) != 2 || c.Processing.Processors[0].When != `log.level == "debug"` {
		t.Fatalf("processors: %+v", c.Processing.Processors)
	}
	add := c.Processing.Processors[1].Pairs
	if len(add) != 3 || add[0].Key != "env" || add[0].Raw != nil || string(add[1].Raw) != "3" || string(add[2].Raw) != "true" {
		t.Errorf("add fields: %+v", add)
	}
	pl := c.Processing.Pipelines
	if len(pl) != 1 || pl[0].Input != "file" || len(pl[0].Processors) != 1 || pl[0].Processors[0].Pairs[1].Value != "log.level" {
		t.Errorf("pipelines: %+v", pl)
	}
	if s := c.FileSecrets(); len(s) != 1 || s[0] != "s3cr3t" {
		t.Errorf("FileSecrets: %v", s)
	}
}

// TestConfigFileErrors: every mistake names its line and column.
func TestConfigFileErrors(t *testing.T) {
	f := func(text, want string) {
		t.Helper()
		path := writeFile(t, "c.yaml", text)
		_, err := Load("t", []string{"--config=" + path}, env(), io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error with %q", text, err, want)
		}
	}
	f("datset: app\n", `c.yaml:1:1: unknown option "datset"`)
	f("dataset: a\ndataset: b\n", `c.yaml:2:1: "dataset" is given twice (first at line 1)`)
	f("workers: many\n", `c.yaml:1:10: workers: invalid number "many"`)
	f("dataset: ${NOPE}\n", `c.yaml:1:10: ${NOPE} is not set`)
	f("processors:\n  - type: rename\n    fields: {a: b}\n    feilds: {c: d}\n", `c.yaml:4:5: unknown option "feilds" of a rename processor`)
	f("processors:\n  - type: rename\n    pattern: x\n", `c.yaml:3:5: unknown option "pattern" of a rename processor`)
	f("processors:\n  - type: nope\n", `c.yaml:2:5: processor without a known type (got "nope"`)
	f("processors:\n  - grok:\n      field: message\n", `c.yaml:2:5: processor without a type: write "grok" as "- type: grok"`)
	f("processors:\n  - type: drop\n    when: a = 1\n", `'=' at offset 2 (did you mean '=='?)`)
	f("processors:\n  - type: drop\n    when: level > \"x\"\n", `compares numbers`)
	f("pipelines:\n  - input: file\n    processor: []\n", `c.yaml:3:5: unknown pipeline key "processor"`)
	f("pipelines:\n  - input: tcp\n    processors: [{type: drop, when: a exists}]\n", `input "tcp"`)
	f("- a\n", "want a mapping of options")
	f("dataset: [a\n", "c.yaml")
}

func TestInterpolate(t *testing.T) {
	get := env("A", "1", "EMPTY", "")
	f := func(in, want string) {
		t.Helper()
		got, err := Interpolate(in, get, nil)
		if err != nil || got != want {
			t.Errorf("%q: got %q, %v; want %q", in, got, err, want)
		}
	}
	f("plain", "plain")
	f("${A}", "1")
	f("x${A}y${A}", "x1y1")
	f("${EMPTY:-d}", "d")
	f("${B:-}", "")
	f("${B:-a b}", "a b")
	f("$$A $${A} $", "$A ${A} $")
	for _, bad := range []string{"${B}", "${", "${1A}", "${file:/x}"} {
		if _, err := Interpolate(bad, get, nil); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
