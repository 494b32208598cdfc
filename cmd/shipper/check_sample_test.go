package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// 'shipper check --config FILE --sample LINE' validates the file, prints
// the effective configuration with secrets masked and what the line
// becomes, without Elasticsearch (the URL points nowhere).
func TestCheckSample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	secret := filepath.Join(dir, "pw")
	if err := os.WriteFile(secret, []byte("pw-from-file-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "shipper.yaml")
	if err := os.WriteFile(cfg, []byte(`
elasticsearch-url: http://127.0.0.1:1
elasticsearch-username: shipper
elasticsearch-password: ${file:`+secret+`}
dataset: ${APP:-web}
processors:
  - type: drop
    when: log.level == "debug"
  - type: kv
    when: not (message matches "^\\{")
  - type: convert
    fields: {status: integer}
  - type: route
    when: status >= 500
    dataset: web.errors
`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runBinary(t, nil, "check", "--config", cfg, "--sample", "status=503 path=/x")
	if code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	for _, want := range []string{"configuration is valid", "dataset=web", "elasticsearch-password=(set)", "2. kv when",
		`"_index":"logs-web.errors-default"`, `"status":503`, `"path":"/x"`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "pw-from-file-123") || strings.Contains(out, "Elasticsearch: NOT reachable") {
		t.Errorf("output shows the secret or contacted Elasticsearch:\n%s", out)
	}
	code, out, _ = runBinary(t, nil, "check", "--config", cfg, "--sample", `{"log.level":"debug"}`)
	if code != 0 || !strings.Contains(out, "dropped by a processor") {
		t.Errorf("debug line: exit %d, want it dropped:\n%s", code, out)
	}
	if err := os.WriteFile(cfg, []byte("processors:\n  - type: drop\n    wen: a exists\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runBinary(t, nil, "check", "--config", cfg)
	if code != 2 || !strings.Contains(errOut, "shipper.yaml:3:5: unknown option \"wen\" of a drop processor") {
		t.Errorf("bad file: exit %d, stdout %s stderr %s", code, out, errOut)
	}
}
