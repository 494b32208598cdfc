package config

import (
	"errors"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadSetupDefaults(t *testing.T) {
	s, err := LoadSetup("shipper setup", nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s.ElasticsearchURL() != "http://localhost:9200" || s.KibanaURL != "http://localhost:5601" || s.KibanaSpace != "default" ||
		s.Only != "" || s.Timeout != 2*time.Minute || s.LogLevel != "info" {
		t.Errorf("defaults: %+v", s)
	}
}

func TestLoadSetupEnvironmentAndFlags(t *testing.T) {
	vars := map[string]string{
		"ELASTICSEARCH_URL":                          "https://es-1:9200, https://es-2:9200",
		"SHIPPER_ELASTICSEARCH_URL":                  "http://ignored:9200", // the first variable set wins
		"SHIPPER_KIBANA_URL":                         "https://kb:5601/kibana",
		"ELASTICSEARCH_USERNAME":                     "admin",
		"ELASTICSEARCH_PASSWORD":                     "secret",
		"SHIPPER_SETUP_ONLY":                         "kibana",
		"SHIPPER_SETUP_TIMEOUT":                      "30s",
		"KIBANA_SPACE":                               "ops",
		"SHIPPER_LOG_LEVEL":                          "debug",
		"ELASTICSEARCH_CA_FILE":                      "/etc/ca.pem",
		"SHIPPER_ELASTICSEARCH_INSECURE_SKIP_VERIFY": "false",
	}
	s, err := LoadSetup("shipper setup", []string{"--only=elasticsearch", "--kibana-space=team-a", "--elasticsearch-insecure-skip-verify"},
		func(k string) string { return vars[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Setup{
		ElasticsearchURLs: []string{"https://es-1:9200", "https://es-2:9200"}, Username: "admin", Password: "secret",
		CAFile: "/etc/ca.pem", InsecureSkipVerify: true, KibanaURL: "https://kb:5601/kibana", KibanaSpace: "team-a",
		Only: SetupElasticsearch, Timeout: 30 * time.Second, LogLevel: "debug",
	}
	if s.ElasticsearchURL() != "https://es-1:9200" || strings.Join(s.ElasticsearchURLs, ",") != strings.Join(want.ElasticsearchURLs, ",") {
		t.Errorf("Elasticsearch URLs %v, want %v", s.ElasticsearchURLs, want.ElasticsearchURLs)
	}
	s.ElasticsearchURLs, want.ElasticsearchURLs = nil, nil
	if !reflect.DeepEqual(s, want) {
		t.Errorf("got  %+v\nwant %+v", s, want)
	}
}

func TestLoadSetupHelp(t *testing.T) {
	var b strings.Builder
	_, err := LoadSetup("shipper setup", []string{"-h"}, func(string) string { return "" }, &b)
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(b.String(), "Usage: shipper setup [options]") {
		t.Errorf("-h: %v\n%s", err, b.String())
	}
}

func TestSetupValidate(t *testing.T) {
	f := func(mod func(*Setup), want string) {
		t.Helper()
		s := DefaultSetup()
		mod(&s)
		err := s.Validate()
		if want == "" {
			if err != nil {
				t.Errorf("%+v: %v", s, err)
			}
			return
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: error %v, want it to mention %q", s, err, want)
		}
	}
	f(func(*Setup) {}, "")
	f(func(s *Setup) { s.Only = "es" }, `--only "es"`)
	f(func(s *Setup) { s.ElasticsearchURLs = nil }, "no Elasticsearch URL: set --elasticsearch-url or ELASTICSEARCH_URL, or use --only=kibana")
	f(func(s *Setup) { s.ElasticsearchURLs, s.Only = nil, SetupKibana }, "")
	f(func(s *Setup) { s.KibanaURL = "" }, "no Kibana URL: set --kibana-url or KIBANA_URL, or use --only=elasticsearch")
	f(func(s *Setup) { s.KibanaURL, s.Only = "", SetupElasticsearch }, "")
	f(func(s *Setup) { s.KibanaURL = "ftp://kb" }, "Kibana URL \"ftp://kb\" must be an http:// or https:// URL")
	f(func(s *Setup) { s.KibanaURL, s.Only = "ftp://kb", SetupElasticsearch }, "")
	f(func(s *Setup) { s.ElasticsearchURLs = []string{"localhost:9200"} }, "check --elasticsearch-url / ELASTICSEARCH_URL")
	f(func(s *Setup) { s.Password = "x" }, "needs both")
	f(func(s *Setup) { s.APIKey, s.Username, s.Password = "k", "u", "p" }, "keep one")
	f(func(s *Setup) { s.Timeout = -time.Second }, "--timeout must be positive")
	f(func(s *Setup) { s.LogLevel = "loud" }, `--log-level "loud"`)
}
