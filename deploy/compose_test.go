package deploy

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads ../docker-compose.yml with the Compose Specification's
// loader (schema validation, interpolation with an empty environment, so
// the defaults in the file apply; consistency checks such as depends_on
// naming existing services).
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root), cli.WithEnv(nil), cli.WithConsistency(true), cli.WithResolvedPaths(true))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return s
}

func env(s types.ServiceConfig, k string) string {
	if v := s.Environment[k]; v != nil {
		return *v
	}
	return ""
}

func TestComposeServices(t *testing.T) {
	p := loadCompose(t)
	if p.Name != "shipper" {
		t.Errorf("project name %q, want shipper", p.Name)
	}
	names := p.ServiceNames()
	slices.Sort(names)
	if want := []string{"demo-app", "elasticsearch", "kibana", "setup", "shipper"}; !slices.Equal(names, want) {
		t.Errorf("services %v, want %v", names, want)
	}

	es := service(t, p, "elasticsearch")
	if !strings.HasPrefix(es.Image, "docker.elastic.co/elasticsearch/elasticsearch:8.19.") {
		t.Errorf("elasticsearch image %q, want the official 8.19.x", es.Image)
	}
	if env(es, "discovery.type") != "single-node" || env(es, "xpack.security.enabled") != "false" {
		t.Errorf("elasticsearch environment %v: want a single node with security off", es.Environment)
	}
	kb := service(t, p, "kibana")
	if version := strings.TrimPrefix(kb.Image, "docker.elastic.co/kibana/kibana:"); version != strings.TrimPrefix(es.Image, "docker.elastic.co/elasticsearch/elasticsearch:") {
		t.Errorf("kibana image %q does not match elasticsearch %q", kb.Image, es.Image)
	}
	if !strings.Contains(env(kb, "ELASTICSEARCH_HOSTS"), "http://elasticsearch:9200") {
		t.Errorf("kibana ELASTICSEARCH_HOSTS=%q, want http://elasticsearch:9200", env(kb, "ELASTICSEARCH_HOSTS"))
	}

	setup := service(t, p, "setup")
	if !slices.Equal(setup.Command, types.ShellCommand{"setup"}) {
		t.Errorf("setup command %v, want [setup]", setup.Command)
	}
	if env(setup, "ELASTICSEARCH_URL") != "http://elasticsearch:9200" || env(setup, "KIBANA_URL") != "http://kibana:5601" {
		t.Errorf("setup environment %v: want ELASTICSEARCH_URL and KIBANA_URL of the services", setup.Environment)
	}
	if setup.Restart != "" && setup.Restart != types.RestartPolicyNo {
		t.Errorf("setup restart %q: a one-off must not restart", setup.Restart)
	}

	sh := service(t, p, "shipper")
	if !slices.Equal(sh.Command, types.ShellCommand{"run", "--input=forward"}) {
		t.Errorf("shipper command %v, want [run --input=forward]", sh.Command)
	}
	for k, v := range map[string]string{"SHIPPER_INPUT": "forward", "ELASTICSEARCH_URL": "http://elasticsearch:9200", "SHIPPER_HTTP_ADDRESS": ":8686"} {
		if env(sh, k) != v {
			t.Errorf("shipper %s=%q, want %q", k, env(sh, k), v)
		}
	}
	if sh.StopGracePeriod == nil || time.Duration(*sh.StopGracePeriod) <= 30*time.Second {
		t.Errorf("shipper stop_grace_period %v: want more than the 30s shutdown timeout", sh.StopGracePeriod)
	}
	// setup and shipper run the same image, built from the root Dockerfile.
	for _, s := range []types.ServiceConfig{setup, sh} {
		if s.Build == nil || filepath.Base(s.Build.Dockerfile) != "Dockerfile" || s.Image != sh.Image {
			t.Errorf("%s: build %+v image %q, want the root Dockerfile and image %q", s.Name, s.Build, s.Image, sh.Image)
		}
	}
	demo := service(t, p, "demo-app")
	if demo.Build == nil || !strings.HasSuffix(filepath.ToSlash(demo.Build.Dockerfile), "cmd/demo-app/Dockerfile") {
		t.Errorf("demo-app build %+v, want cmd/demo-app/Dockerfile", demo.Build)
	}
}

// TestComposeForwardWiring: the demo app's container logs go through
// Docker's fluentd driver to the shipper's Forward port. The driver runs in
// the Docker daemon on the host, so it must dial the port the shipper
// publishes on the host, on loopback, not the service name.
func TestComposeForwardWiring(t *testing.T) {
	p := loadCompose(t)
	sh := service(t, p, "shipper")
	var forward *types.ServicePortConfig
	for i, port := range sh.Ports {
		if port.Target == 24224 {
			forward = &sh.Ports[i]
		}
	}
	if forward == nil {
		t.Fatalf("shipper ports %+v: 24224 is not published", sh.Ports)
	}
	if forward.Published != "24224" || forward.HostIP != "127.0.0.1" || (forward.Protocol != "" && forward.Protocol != "tcp") {
		t.Errorf("shipper port 24224 published as %s:%s/%s, want 127.0.0.1:24224/tcp", forward.HostIP, forward.Published, forward.Protocol)
	}
	if !slices.ContainsFunc(sh.Ports, func(p types.ServicePortConfig) bool { return p.Target == 8686 }) {
		t.Errorf("shipper ports %+v: the status port 8686 is not published", sh.Ports)
	}

	demo := service(t, p, "demo-app")
	lg := demo.Logging
	if lg == nil || lg.Driver != "fluentd" {
		t.Fatalf("demo-app logging %+v, want the fluentd driver", lg)
	}
	addr := lg.Options["fluentd-address"]
	addr = strings.TrimPrefix(addr, "tcp://")
	host, port, ok := strings.Cut(addr, ":")
	if !ok || (host != "localhost" && host != "127.0.0.1") || port != forward.Published {
		t.Errorf("demo-app fluentd-address %q, want localhost:%s: the daemon resolves it on the host", lg.Options["fluentd-address"], forward.Published)
	}
	if lg.Options["fluentd-async"] != "true" {
		t.Errorf("demo-app fluentd-async %q, want \"true\": the app must start and run while the shipper is away", lg.Options["fluentd-async"])
	}
	if lg.Options["tag"] == "" {
		t.Errorf("demo-app logging options %v: want a tag", lg.Options)
	}
}

// TestComposeStartOrder: every long-running service has a health check,
// every dependency a condition, and the chain is
// elasticsearch -> kibana -> setup -> shipper -> demo-app.
func TestComposeStartOrder(t *testing.T) {
	p := loadCompose(t)
	for _, s := range p.Services {
		if s.Name == "setup" {
			continue // a one-off: it exits
		}
		hc := s.HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) < 2 || (hc.Test[0] != "CMD" && hc.Test[0] != "CMD-SHELL") {
			t.Errorf("%s: health check %+v, want a CMD or CMD-SHELL test", s.Name, hc)
			continue
		}
		if hc.Interval == nil || hc.Retries == nil || *hc.Retries == 0 {
			t.Errorf("%s: health check without interval or retries", s.Name)
		}
		for name, dep := range s.DependsOn {
			if dep.Condition == "" || dep.Condition == types.ServiceConditionStarted {
				t.Errorf("%s depends on %s without a condition (%q)", s.Name, name, dep.Condition)
			}
		}
	}
	want := map[string]map[string]string{
		"kibana":   {"elasticsearch": types.ServiceConditionHealthy},
		"setup":    {"elasticsearch": types.ServiceConditionHealthy, "kibana": types.ServiceConditionHealthy},
		"shipper":  {"elasticsearch": types.ServiceConditionHealthy, "setup": types.ServiceConditionCompletedSuccessfully},
		"demo-app": {"shipper": types.ServiceConditionHealthy},
	}
	for name, deps := range want {
		s := service(t, p, name)
		for dep, cond := range deps {
			if got := s.DependsOn[dep].Condition; got != cond {
				t.Errorf("%s depends on %s with condition %q, want %q", name, dep, got, cond)
			}
		}
		if len(s.DependsOn) != len(deps) {
			t.Errorf("%s depends on %v, want %v", name, s.DependsOn, deps)
		}
	}
	// The health checks probe what the services serve.
	for name, want := range map[string]string{
		"elasticsearch": "_cluster/health",
		"kibana":        "/api/status",
		"shipper":       "http://127.0.0.1:8686/readyz",
		"demo-app":      "/healthz",
	} {
		if test := strings.Join(service(t, p, name).HealthCheck.Test, " "); !strings.Contains(test, want) {
			t.Errorf("%s health check %q does not probe %s", name, test, want)
		}
	}
	// The images have no shell: their checks must be exec form.
	for _, name := range []string{"shipper", "demo-app"} {
		if hc := service(t, p, name).HealthCheck; hc.Test[0] != "CMD" || hc.Test[1] != "/usr/local/bin/probe" {
			t.Errorf("%s health check %v: the distroless image has no shell, use [CMD, /usr/local/bin/probe, URL]", name, hc.Test)
		}
	}
}

// TestComposePortsOnLoopback: security is off in the demo, so nothing may
// be published beyond the host's loopback.
func TestComposePortsOnLoopback(t *testing.T) {
	p := loadCompose(t)
	for _, s := range p.Services {
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %d on %q, want 127.0.0.1", s.Name, port.Target, port.HostIP)
			}
		}
	}
}
