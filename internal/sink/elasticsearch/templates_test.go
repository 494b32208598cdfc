package elasticsearch

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	assets "shipper/elasticsearch"
)

func TestEnsureTemplates(t *testing.T) {
	tpls, err := assets.Templates()
	if err != nil {
		t.Fatal(err)
	}
	var indexPaths, allPaths []string
	for _, tp := range tpls {
		allPaths = append(allPaths, tp.Path())
		if tp.Kind == assets.Index {
			indexPaths = append(indexPaths, tp.Path())
		}
	}
	if len(indexPaths) == 0 {
		t.Fatal("no embedded index template")
	}

	f := func(name string, getStatus func(path string) int, putStatus int, want TemplateState, wantErr string, wantPuts []string) {
		t.Helper()
		es := newFakeES(t, func(n int, r *bulkReq) answer {
			switch r.Method {
			case http.MethodGet:
				return answer{status: getStatus(r.Path), body: `{"index_templates":[]}`}
			case http.MethodPut:
				return answer{status: putStatus, body: `{"acknowledged":true}`}
			}
			return answer{status: 405, body: `{}`}
		})
		s, _ := newTestSink(t, es.URL(), nil)
		got, err := s.EnsureTemplates(context.Background())
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Errorf("%s: got %v, want an error with %q", name, err, wantErr)
			}
		} else if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", name, got, err, want)
		}
		var puts []string
		for _, r := range es.requests() {
			if r.Method == http.MethodPut {
				puts = append(puts, r.Path)
				if ct := r.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("%s: PUT %s with Content-Type %q", name, r.Path, ct)
				}
				for _, tp := range tpls {
					if tp.Path() == r.Path && string(tp.Body) != string(r.Body) {
						t.Errorf("%s: PUT %s body differs from the embedded template", name, r.Path)
					}
				}
			}
		}
		if strings.Join(puts, " ") != strings.Join(wantPuts, " ") {
			t.Errorf("%s: PUTs\ngot  %q\nwant %q", name, puts, wantPuts)
		}
	}
	always := func(s int) func(string) int { return func(string) int { return s } }
	f("all present", always(200), 200, TemplatesPresent, "", nil)
	f("all missing", always(404), 200, TemplatesInstalled, "", allPaths)
	f("one missing", func(p string) int {
		if p == indexPaths[len(indexPaths)-1] {
			return 404
		}
		return 200
	}, 200, TemplatesInstalled, "", allPaths)
	f("check refused", always(403), 200, "", "cannot check index template", nil)
	f("install refused", always(404), 400, "", "cannot install component template "+tpls[0].Name, allPaths[:1])
}

func TestEnsureTemplatesUnreachable(t *testing.T) {
	es := newFakeES(t, func(int, *bulkReq) answer { return answer{status: 503, body: `{"error":"not ready"}`} })
	s, _ := newTestSink(t, es.URL(), nil)
	_, err := s.EnsureTemplates(context.Background())
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 503 || !IsUnreachable(err) || !strings.Contains(err.Error(), "not ready") {
		t.Errorf("got %v, want an unreachable StatusError 503 with the answer", err)
	}

	down, _ := newTestSink(t, "http://127.0.0.1:1", nil)
	if _, err := down.EnsureTemplates(context.Background()); err == nil || !IsUnreachable(err) {
		t.Errorf("no server: got %v, want an unreachable error", err)
	}
}

func TestPing(t *testing.T) {
	f := func(status int, body, want, wantErr string) {
		t.Helper()
		es := newFakeES(t, func(n int, r *bulkReq) answer {
			if r.Method != http.MethodGet || r.Path != "/_cluster/health" {
				t.Errorf("Ping sent %s %s", r.Method, r.Path)
			}
			return answer{status: status, body: body}
		})
		s, _ := newTestSink(t, es.URL(), nil)
		got, err := s.Ping(context.Background())
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Errorf("Ping answered %d %s: got %q, %v; want an error with %q", status, body, got, err, wantErr)
			}
			return
		}
		if err != nil || got != want {
			t.Errorf("Ping answered %d %s: got %q, %v; want %q", status, body, got, err, want)
		}
	}
	f(200, `{"cluster_name":"c","status":"green","timed_out":false}`, "green", "")
	f(200, `{"cluster_name":"c","status":"yellow"}`, "yellow", "")
	f(200, `{}`, "unknown", "")
	f(200, `{"status":"red`, "unknown", "")
	f(503, `{"error":"master_not_discovered_exception"}`, "", "answered 503")
	f(401, `{"error":"security_exception"}`, "", "security_exception")
}
