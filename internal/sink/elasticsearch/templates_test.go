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
	var allPaths []string
	byPath := map[string]assets.Template{}
	for _, tp := range tpls {
		allPaths = append(allPaths, tp.Path())
		byPath[tp.Path()] = tp
	}
	last := tpls[len(tpls)-1] // an index template
	if last.Kind != assets.Index {
		t.Fatal("the last template is not an index template")
	}
	// installed answers GET for a template: ours, an older shipper's, one
	// installed by someone else, or none.
	type installed int
	const (
		ours installed = iota
		older
		foreign
		missing
	)
	answerGet := func(path string, what installed) answer {
		tp := byPath[path]
		meta := map[installed]string{
			ours:    `{"hash":"` + tp.Hash + `","managed_by":"shipper"}`,
			older:   `{"hash":"sha256:0123","managed_by":"shipper"}`,
			foreign: `{"description":"hand-made"}`,
		}[what]
		if what == missing {
			return answer{status: 404, body: `{"error":"not found"}`}
		}
		inner := `{"version":1,"_meta":` + meta + `,"template":{}}`
		if tp.Kind == assets.Index {
			return answer{status: 200, body: `{"index_templates":[{"name":"` + tp.Name + `","index_template":` + inner + `}]}`}
		}
		return answer{status: 200, body: `{"component_templates":[{"name":"` + tp.Name + `","component_template":` + inner + `}]}`}
	}
	f := func(name string, state func(path string) installed, getStatus, putStatus int, want TemplateState, wantErr string, wantPuts []string) {
		t.Helper()
		es := newFakeES(t, func(n int, r *bulkReq) answer {
			switch r.Method {
			case http.MethodGet:
				if getStatus != 200 {
					return answer{status: getStatus, body: `{"error":"no"}`}
				}
				return answerGet(r.Path, state(r.Path))
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
				if tp := byPath[r.Path]; string(tp.Body) != string(r.Body) {
					t.Errorf("%s: PUT %s body differs from the embedded template", name, r.Path)
				}
			}
		}
		if strings.Join(puts, " ") != strings.Join(wantPuts, " ") {
			t.Errorf("%s: PUTs\ngot  %q\nwant %q", name, puts, wantPuts)
		}
	}
	all := func(w installed) func(string) installed { return func(string) installed { return w } }
	only := func(path string, w installed) func(string) installed {
		return func(p string) installed {
			if p == path {
				return w
			}
			return ours
		}
	}
	f("all ours", all(ours), 200, 200, TemplatesPresent, "", nil)
	f("all missing", all(missing), 200, 200, TemplatesInstalled, "", allPaths)
	f("one missing", only(last.Path(), missing), 200, 200, TemplatesInstalled, "", []string{last.Path()})
	f("one of an older shipper", only(tpls[0].Path(), older), 200, 200, TemplatesUpdated, "", []string{tpls[0].Path()})
	f("all of an older shipper", all(older), 200, 200, TemplatesUpdated, "", allPaths)
	f("a foreign one, same name", only(last.Path(), foreign), 200, 200, "", "templates index/"+last.Name+" exist but were not installed by the shipper", nil)
	f("check refused", all(ours), 403, 200, "", "cannot check component template", nil)
	f("install refused", all(missing), 200, 400, "", "cannot install component template "+tpls[0].Name, allPaths[:1])
	var fe *ForeignTemplateError
	es := newFakeES(t, func(n int, r *bulkReq) answer { return answerGet(r.Path, foreign) })
	s, _ := newTestSink(t, es.URL(), nil)
	if _, err := s.EnsureTemplates(context.Background()); !errors.As(err, &fe) || len(fe.Names) != len(tpls) {
		t.Errorf("all foreign: got %v, want a ForeignTemplateError naming all %d", err, len(tpls))
	}
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
