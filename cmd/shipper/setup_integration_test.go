//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	assets "shipper/elasticsearch"
	"shipper/internal/testutil/estest"
	"shipper/kibana"
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
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
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
	dir := t.TempDir()
	demoBin := filepath.Join(dir, "demo-app")
	if out, err := exec.Command("go", "build", "-o", demoBin, "shipper/cmd/demo-app").CombinedOutput(); err != nil {
		t.Fatalf("cannot build the demo app: %v\n%s", err, out)
	}
	demo := exec.CommandContext(ctx, demoBin, "--load", "--rate=200", "--duration=3s")
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
	const rejected = `{"level":"error","message":"duplicate keys","service.name":"demo-app","a":1,"a":2}`

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
	// namespace, so that other tests' streams on the shared node do not
	// matter) covers the logs stream and the dead-letter stream.
	pattern := "logs-*-" + ns
	var caps struct {
		Indices []string `json:"indices"`
		Fields  map[string]map[string]struct {
			Searchable   bool `json:"searchable"`
			Aggregatable bool `json:"aggregatable"`
		} `json:"fields"`
	}
	b := estest.MustDo(t, http.MethodGet, "/"+pattern+"/_field_caps?fields=*", "")
	if err := json.Unmarshal(b, &caps); err != nil {
		t.Fatal(err)
	}
	if len(caps.Indices) < 2 {
		t.Errorf("_field_caps of %s covers %v, want the backing indices of both streams", pattern, caps.Indices)
	}
	numeric := map[string]bool{"long": true, "integer": true, "short": true, "byte": true, "double": true, "float": true, "half_float": true, "scaled_float": true, "unsigned_long": true}
	used := kibana.FieldsUsed()
	if len(used) == 0 {
		t.Fatal("kibana.FieldsUsed is empty")
	}
	for field, kind := range used {
		types, ok := caps.Fields[field]
		if !ok {
			t.Errorf("%s (needed as %s by the Kibana saved objects) is not in _field_caps of %s", field, kind, pattern)
			continue
		}
		for typ, c := range types {
			var good bool
			switch kind {
			case kibana.FieldDate:
				good = (typ == "date" || typ == "date_nanos") && c.Aggregatable
			case kibana.FieldKeyword:
				good = typ == "keyword" && c.Aggregatable
			case kibana.FieldNumber:
				good = numeric[typ] && c.Aggregatable
			default:
				good = typ != "unmapped"
			}
			if !good {
				t.Errorf("%s is mapped as %s (aggregatable %v) in %s; the Kibana saved objects need %s", field, typ, c.Aggregatable, pattern, kind)
			}
		}
		// And the shipped documents fill it: the views are not empty.
		if !someSourceHas(t, pattern, field) {
			t.Errorf("no document of %s has %s, which the Kibana saved objects use", pattern, field)
		}
	}
	if t.Failed() {
		t.Logf("field caps: %.3000s", b)
	}
}

// someSourceHas reports whether a document of index has field in its
// _source. It reads the sources rather than asking an exists query, which
// cannot see fields kept only in _source (event.original of dead letters
// is neither indexed nor has doc values).
func someSourceHas(t *testing.T, index, field string) bool {
	t.Helper()
	b := estest.MustDo(t, http.MethodPost, "/"+index+"/_search", `{"size":5000,"_source":[`+jsonString(field)+`],"query":{"match_all":{}}}`)
	var r struct {
		Hits struct {
			Hits []struct {
				Source map[string]any `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	for _, h := range r.Hits.Hits {
		if len(h.Source) > 0 {
			return true
		}
	}
	return false
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
