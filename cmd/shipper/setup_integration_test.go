//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	assets "shipper/elasticsearch"
	"shipper/internal/testutil/estest"
)

// installedTemplates returns what Elasticsearch holds for each embedded
// template, decoded, by REST path.
func installedTemplates(t *testing.T) map[string]any {
	t.Helper()
	tpls, err := assets.Templates()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for _, tp := range tpls {
		var v any
		if err := json.Unmarshal(estest.MustDo(t, http.MethodGet, tp.Path(), ""), &v); err != nil {
			t.Fatal(err)
		}
		out[tp.Path()] = v
	}
	return out
}

// TestIntegrationSetupThenShipDemoLogs is the acceptance of 'shipper
// setup' against a real Elasticsearch: --only=elasticsearch installs the
// templates, a second run changes nothing; then the demo app's log lines
// (and one line Elasticsearch rejects, for the dead-letter stream) are
// shipped, and every field the Kibana saved objects use is in _field_caps
// of logs-* with the type Kibana needs.
func TestIntegrationSetupThenShipDemoLogs(t *testing.T) {
	esURL := estest.URL(t)
	getenv := func(k string) string {
		if k == "ELASTICSEARCH_URL" {
			return esURL
		}
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // against a hang, not a pass criterion
	defer cancel()

	var snapshots []map[string]any
	for run := 1; run <= 2; run++ {
		var stdout, stderr bytes.Buffer
		if code := runSetup(ctx, []string{"--only=elasticsearch", "--timeout=1m"}, getenv, &stdout, &stderr); code != 0 {
			t.Fatalf("setup run %d: exit %d\n%s", run, code, stderr.String())
		}
		if !strings.Contains(stdout.String(), "Elasticsearch templates installed at "+esURL) || strings.Contains(stdout.String(), "Kibana") {
			t.Errorf("setup run %d: stdout %q", run, stdout.String())
		}
		snapshots = append(snapshots, installedTemplates(t))
	}
	if !reflect.DeepEqual(snapshots[0], snapshots[1]) {
		t.Errorf("the second setup run changed the templates:\nfirst:  %v\nsecond: %v", snapshots[0], snapshots[1])
	}
	for path, v := range snapshots[1] {
		if b, _ := json.Marshal(v); !strings.Contains(string(b), `"version":`) {
			t.Errorf("%s: installed template has no version: %s", path, b)
		}
	}

	// The demo app's own log lines: a few seconds of its load generator.
	demo := exec.CommandContext(ctx, demoAppBinary(t), "--load", "--rate=200", "--duration=3s")
	demo.Env = append(os.Environ(), "PORT=0", "FLUENT_ADDRESS=")
	var demoOut, demoErr bytes.Buffer
	demo.Stdout, demo.Stderr = &demoOut, &demoErr
	if err := demo.Run(); err != nil {
		t.Fatalf("demo-app: %v\n%s", err, demoErr.String())
	}
	lines := strings.Split(strings.TrimSuffix(demoOut.String(), "\n"), "\n")
	if len(lines) < 100 {
		t.Fatalf("demo-app wrote %d lines, want hundreds", len(lines))
	}
	// Duplicate keys: Elasticsearch rejects the document, the shipper puts
	// it into the dead-letter stream, which the "Dead letters" view shows.
	const rejected = `{"level":"error","message":"duplicate keys","service.name":"demo-app","a":{"b":1,"b":2}}`

	ns := estest.Unique("setup")
	logsStream, deadStream := "logs-demo-"+ns, "logs-shipper.deadletter-"+ns
	cmd, stdin, logs := runShipper(t, ctx, "--dataset=demo", "--namespace="+ns, "--templates=skip", "--flush-interval=200ms")
	if _, err := stdin.Write([]byte(demoOut.String() + rejected + "\n")); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("shipper: %v\n%s", err, logs)
	}
	<-logs.done
	estest.Refresh(t, "logs-*-"+ns)
	if n := estest.Count(t, logsStream, ""); n != len(lines) {
		t.Errorf("%s: %d documents, want the %d lines of the demo app\n%s", logsStream, n, len(lines), logs)
	}
	if n := estest.Count(t, deadStream, ""); n != 1 {
		t.Errorf("%s: %d documents, want the 1 rejected line\n%s", deadStream, n, logs)
	}

	// What Kibana's data views see: logs-* (here narrowed to this test's
	// namespace) covers the logs stream and the dead-letter stream.
	checkKibanaFields(t, "logs-*-"+ns)
}
