package main

import (
	"shipper/internal/config"
	"shipper/internal/redact"
)

// runSecrets are what the output of run and check must never show: the
// Elasticsearch password and API key (also inside the URLs), the Forward
// shared key and user passwords.
func runSecrets(cfg *config.Config) []string {
	others := []string{cfg.APIKey, cfg.Forward.SharedKey}
	others = append(others, cfg.FileSecrets()...)
	for _, p := range cfg.Processing.Processors {
		others = append(others, p.HashKey)
	}
	for _, pl := range cfg.Processing.Pipelines {
		for _, p := range pl.Processors {
			others = append(others, p.HashKey)
		}
	}
	for _, u := range cfg.Forward.ParsedUsers() {
		others = append(others, u.Password)
	}
	return redact.Secrets(cfg.ElasticsearchURLs, cfg.Username, cfg.Password, others...)
}

// setupSecrets are runSecrets for setup.
func setupSecrets(cfg *config.Setup) []string {
	return redact.Secrets(append([]string{cfg.KibanaURL}, cfg.ElasticsearchURLs...), cfg.Username, cfg.Password, cfg.APIKey)
}
