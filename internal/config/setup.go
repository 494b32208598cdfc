package config

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"shipper/internal/redact"
)

// Setup is the configuration of `shipper setup`: where Elasticsearch and
// Kibana are, how to authenticate, and which side to set up. It shares the
// Elasticsearch options and their environment variables with the run
// command, so one environment serves both.
type Setup struct {
	ElasticsearchURLs  []string // the first is used
	Username, Password string
	APIKey             string
	CAFile             string
	InsecureSkipVerify bool

	KibanaURL   string
	KibanaSpace string

	// Only is "" (both sides), SetupElasticsearch or SetupKibana.
	Only    string
	Timeout time.Duration

	LogLevel string
}

// Values of Setup.Only.
const (
	SetupElasticsearch = "elasticsearch"
	SetupKibana        = "kibana"
)

// DefaultSetup returns the defaults of `shipper setup`.
func DefaultSetup() Setup {
	return Setup{
		ElasticsearchURLs: []string{"http://localhost:9200"},
		KibanaURL:         "http://localhost:5601",
		KibanaSpace:       "default",
		Timeout:           2 * time.Minute,
		LogLevel:          "info",
	}
}

// ElasticsearchURL is the URL setup talks to: the first of the list.
func (s *Setup) ElasticsearchURL() string {
	if len(s.ElasticsearchURLs) == 0 {
		return ""
	}
	return s.ElasticsearchURLs[0]
}

func (s *Setup) options() []option {
	return []option{
		{"only", []string{"SHIPPER_SETUP_ONLY"}, "set up one side only: elasticsearch (index and component templates) or kibana (saved objects); empty: both, Elasticsearch first", stringValue{&s.Only}},
		{"elasticsearch-url", []string{"ELASTICSEARCH_URL", "SHIPPER_ELASTICSEARCH_URL"}, "Elasticsearch URL; of a comma-separated list, the first is used", (*stringList)(&s.ElasticsearchURLs)},
		{"elasticsearch-username", []string{"ELASTICSEARCH_USERNAME", "SHIPPER_ELASTICSEARCH_USERNAME"}, "basic-auth user name, sent to Elasticsearch and Kibana; needs the manage_index_templates cluster privilege and the Kibana saved objects privilege (e.g. kibana_admin)", stringValue{&s.Username}},
		{"elasticsearch-password", []string{"ELASTICSEARCH_PASSWORD", "SHIPPER_ELASTICSEARCH_PASSWORD"}, "basic-auth password (prefer the environment variable)", stringValue{&s.Password}},
		{"elasticsearch-api-key", []string{"ELASTICSEARCH_API_KEY", "SHIPPER_ELASTICSEARCH_API_KEY"}, "API key, base64 'id:key' as Elasticsearch returns it, sent to Elasticsearch and Kibana (prefer the environment variable)", stringValue{&s.APIKey}},
		{"elasticsearch-ca-file", []string{"ELASTICSEARCH_CA_FILE", "SHIPPER_ELASTICSEARCH_CA_FILE"}, "PEM file of the CA that signed the certificates of Elasticsearch and Kibana (added to the system's)", stringValue{&s.CAFile}},
		{"elasticsearch-insecure-skip-verify", []string{"SHIPPER_ELASTICSEARCH_INSECURE_SKIP_VERIFY"}, "do not verify the TLS certificates of Elasticsearch and Kibana (testing only)", boolValue{&s.InsecureSkipVerify}},
		{"kibana-url", []string{"KIBANA_URL", "SHIPPER_KIBANA_URL"}, "Kibana URL, with its base path if it has one (server.basePath)", stringValue{&s.KibanaURL}},
		{"kibana-space", []string{"KIBANA_SPACE", "SHIPPER_KIBANA_SPACE"}, "Kibana space that receives the saved objects; it must exist", stringValue{&s.KibanaSpace}},
		{"timeout", []string{"SHIPPER_SETUP_TIMEOUT"}, "give up after this long, including the retries while Elasticsearch or Kibana is starting", durationValue{&s.Timeout}},
		{"log-level", []string{"SHIPPER_LOG_LEVEL"}, "the shipper's own log level: debug, info, warn, error", stringValue{&s.LogLevel}},
	}
}

// LoadSetup builds a Setup from defaults, the environment (getenv) and
// args (flags, without the program or subcommand name). Flags win over the
// environment. --help prints the option reference to usageOut and returns
// flag.ErrHelp.
func LoadSetup(name string, args []string, getenv func(string) string, usageOut io.Writer) (Setup, error) {
	s := DefaultSetup()
	if err := parseOptions(name, args, getenv, s.options(), func() { PrintSetupUsage(usageOut, name) }); err != nil {
		return s, err
	}
	return s, s.Validate()
}

// PrintSetupUsage writes the reference of `shipper setup`.
func PrintSetupUsage(w io.Writer, name string) {
	s := DefaultSetup()
	fmt.Fprintf(w, `Usage: %s [options]

Installs what the shipper needs around it, once, with administrator rights:
  Elasticsearch  the component templates and the composable index templates of
                 logs-*-* and of the dead-letter stream (PUT _component_template,
                 PUT _index_template), overwriting older versions;
  Kibana         the saved objects: data views, saved searches, visualizations and
                 the dashboard (POST /api/saved_objects/_import?overwrite=true).
Running it again changes nothing: templates are replaced by identical ones and the
saved objects are overwritten by id. A service that is starting (HTTP 503, 429,
connection refused) is retried until --timeout.

Exit status: 0 done; 1 Elasticsearch or Kibana was unreachable or refused;
2 invalid options; 3 Kibana imported only some of the saved objects.

Options (each also settable by the environment variable shown; flags win):
`, name)
	printOptions(w, s.options())
	fmt.Fprintf(w, `
Examples:
  ELASTICSEARCH_URL=http://localhost:9200 KIBANA_URL=http://localhost:5601 %[1]s
  %[1]s --only=elasticsearch --elasticsearch-url=https://es:9200 --elasticsearch-ca-file=ca.pem
`, name)
}

// Validate checks the values and says what to change.
func (s *Setup) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	checkURL := func(what, u, setting string) {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			bad("%s URL %q must be an http:// or https:// URL with a host: check %s", what, redact.URL(u), setting)
		}
	}
	switch s.Only {
	case "", SetupElasticsearch, SetupKibana:
	default:
		bad("--only %q: want elasticsearch or kibana (or nothing for both)", s.Only)
	}
	if s.Only != SetupKibana {
		if s.ElasticsearchURL() == "" {
			bad("no Elasticsearch URL: set --elasticsearch-url or ELASTICSEARCH_URL, or use --only=kibana")
		} else {
			checkURL("Elasticsearch", s.ElasticsearchURL(), "--elasticsearch-url / ELASTICSEARCH_URL")
		}
	}
	if s.Only != SetupElasticsearch {
		if s.KibanaURL == "" {
			bad("no Kibana URL: set --kibana-url or KIBANA_URL, or use --only=elasticsearch")
		} else {
			checkURL("Kibana", s.KibanaURL, "--kibana-url / KIBANA_URL")
		}
	}
	if s.APIKey != "" && (s.Username != "" || s.Password != "") {
		bad("both an API key and a user name/password are set: keep one")
	}
	if (s.Username == "") != (s.Password == "") {
		bad("basic auth needs both --elasticsearch-username and --elasticsearch-password")
	}
	if s.Timeout <= 0 {
		bad("--timeout must be positive")
	}
	switch s.LogLevel {
	case "trace", "debug", "info", "warn", "error":
	default:
		bad("--log-level %q: want debug, info, warn or error", s.LogLevel)
	}
	return errors.Join(errs...)
}
