// Package setup is the logic of `shipper setup`: it installs the
// Elasticsearch templates (shipper/elasticsearch) and imports the Kibana
// saved objects (shipper/kibana). Both steps are idempotent: templates are
// PUT (Elasticsearch keeps an identical template as it is) and the import
// overwrites the objects by id, so running setup again changes nothing.
package setup

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"shipper/internal/esclient"
)

// DefaultTimeout bounds a whole Run when Config.Timeout is 0. It is long
// enough for a Kibana that is still starting (it answers 503 for a minute
// or more after a cold start).
const DefaultTimeout = 2 * time.Minute

// requestTimeout bounds one HTTP request.
const requestTimeout = 30 * time.Second

// Config is what Run needs. The same credentials are sent to Elasticsearch
// and Kibana (Kibana authenticates against Elasticsearch's users).
type Config struct {
	ElasticsearchURL string // e.g. http://localhost:9200; required unless SkipElasticsearch
	KibanaURL        string // e.g. http://localhost:5601; required unless SkipKibana

	// Username and Password: HTTP basic authentication. APIKey, the base64
	// "id:key" that Elasticsearch returns, is sent as
	// "Authorization: ApiKey <key>" and wins over Username/Password.
	Username, Password, APIKey string

	CAFile             string // PEM file of extra trusted CAs (added to the system pool)
	InsecureSkipVerify bool   // do not verify TLS certificates (testing only)

	SkipElasticsearch, SkipKibana bool

	// KibanaSpace is the Kibana space to import into; "" or "default" is
	// the default space.
	KibanaSpace string

	// UserAgent is sent with every request; "" means "shipper".
	UserAgent string

	// Timeout bounds the whole Run, including the retries while a service
	// is starting; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Run installs the Elasticsearch templates, then imports the Kibana saved
// objects, each step unless skipped, logging each result on log. It stops at
// the first failing step and returns an error an operator can act on: which
// service, which URL, what it answered and which setting to change. Requests
// answered 503 or 429 and connection failures are retried with backoff
// until the timeout; other failures are not.
func Run(ctx context.Context, cfg Config, log zerolog.Logger) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	if !cfg.SkipElasticsearch {
		client, err := newClient(cfg, cfg.ElasticsearchURL, "Elasticsearch")
		if err != nil {
			return err
		}
		es := &service{
			name: "Elasticsearch", base: strings.TrimRight(cfg.ElasticsearchURL, "/"),
			urlSetting: "--elasticsearch-url / ELASTICSEARCH_URL", skip: "--only=kibana", cfg: cfg, client: client, log: log, timeout: timeout,
		}
		if err := installTemplates(ctx, es); err != nil {
			return err
		}
	} else {
		log.Info().Msg("skipping the Elasticsearch templates (--only=kibana)")
	}
	if !cfg.SkipKibana {
		client, err := newClient(cfg, cfg.KibanaURL, "")
		if err != nil {
			return err
		}
		kb := &service{
			name: "Kibana", base: strings.TrimRight(cfg.KibanaURL, "/"),
			urlSetting: "--kibana-url / KIBANA_URL", skip: "--only=elasticsearch", cfg: cfg, client: client, log: log, timeout: timeout,
		}
		if err := importSavedObjects(ctx, kb, cfg.KibanaSpace); err != nil {
			return err
		}
	} else {
		log.Info().Msg("skipping the Kibana saved objects (--only=elasticsearch)")
	}
	return nil
}

func (c Config) validate() error {
	if c.SkipElasticsearch && c.SkipKibana {
		return errors.New("setup: nothing to do: both Elasticsearch and Kibana are skipped")
	}
	check := func(what, u, setting, skip string) error {
		if u == "" {
			return fmt.Errorf("setup: no %s URL: set %s, or %s", what, setting, skip)
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("setup: %s URL %q is not an http:// or https:// URL with a host: check %s", what, u, setting)
		}
		if p.RawQuery != "" || p.Fragment != "" {
			return fmt.Errorf("setup: %s URL %q must not have a query or fragment: check %s", what, u, setting)
		}
		return nil
	}
	if !c.SkipElasticsearch {
		if err := check("Elasticsearch", c.ElasticsearchURL, "--elasticsearch-url / ELASTICSEARCH_URL", "use --only=kibana"); err != nil {
			return err
		}
	}
	if !c.SkipKibana {
		if err := check("Kibana", c.KibanaURL, "--kibana-url / KIBANA_URL", "use --only=elasticsearch"); err != nil {
			return err
		}
		if s := c.KibanaSpace; s != "" && strings.ContainsAny(s, "/?#% ") {
			return fmt.Errorf("setup: Kibana space %q is not a space id (lower-case letters, digits, '_' and '-')", s)
		}
	}
	if c.Password != "" && c.Username == "" {
		return errors.New("setup: a password without a user name: set --elasticsearch-username too")
	}
	return nil
}

// newClient returns the client for the service at base, with the
// credentials, CA file and TLS options of cfg; product, when set, is the
// X-Elastic-Product its successful answers must carry.
func newClient(cfg Config, base, product string) (*esclient.Client, error) {
	c, err := esclient.New(esclient.Config{
		URLs: []string{base}, Username: cfg.Username, Password: cfg.Password, APIKey: cfg.APIKey,
		CAFile: cfg.CAFile, InsecureSkipVerify: cfg.InsecureSkipVerify, UserAgent: cfg.UserAgent,
		Timeout: requestTimeout, Product: product,
	})
	if err != nil {
		return nil, fmt.Errorf("setup: %w (check --elasticsearch-ca-file)", err)
	}
	return c, nil
}
