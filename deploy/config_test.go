package deploy

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"shipper/internal/config"
)

// knownVariables returns the environment variables the shipper reads, as
// 'shipper run --help' and 'shipper setup --help' list them.
func knownVariables(t *testing.T) map[string]bool {
	t.Helper()
	var b strings.Builder
	config.PrintUsage(&b, "shipper run")
	config.PrintSetupUsage(&b, "shipper setup")
	known := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+env (.*?)(?:;|$)`).FindAllStringSubmatch(b.String(), -1) {
		for _, v := range strings.Split(m[1], ",") {
			known[strings.TrimSpace(v)] = true
		}
	}
	if !known["ELASTICSEARCH_URL"] || !known["SHIPPER_INPUT"] || !known["KIBANA_URL"] {
		t.Fatalf("cannot read the variables from the usage text:\n%s", b.String())
	}
	return known
}

// runtimeVariables are read by the Go runtime, not by the shipper.
var runtimeVariables = map[string]bool{"GOMEMLIMIT": true, "GOMAXPROCS": true, "GOGC": true}

// checkVariables fails for a variable that neither the shipper nor the Go
// runtime reads: a typo there is silently ignored.
func checkVariables(t *testing.T, where string, known map[string]bool, names []string) {
	t.Helper()
	for _, n := range names {
		if !known[n] && !runtimeVariables[n] {
			t.Errorf("%s sets %s, which the shipper does not read (see shipper run --help)", where, n)
		}
	}
}

// loadRun validates a shipper command line and environment with the
// shipper's own configuration loader, as the container would start.
func loadRun(t *testing.T, where string, args []string, vars map[string]string) config.Config {
	t.Helper()
	if len(args) == 0 || args[0] != "run" {
		t.Fatalf("%s: arguments %v, want 'run' first", where, args)
	}
	cfg, err := config.Load("shipper run", args[1:], func(k string) string { return vars[k] }, io.Discard)
	if err != nil {
		t.Errorf("%s: the shipper would refuse its configuration: %v", where, err)
	}
	return cfg
}

// TestManifestsConfigureTheShipper feeds each shipper container's
// configuration (ConfigMap, Secret, env with the downward API filled in,
// args) to the shipper's configuration loader.
func TestManifestsConfigureTheShipper(t *testing.T) {
	known := knownVariables(t)
	downward := map[string]string{
		"metadata.namespace": "shop", "metadata.name": "web-7d9f", "metadata.uid": "0b5c3a8e-1f2d-4c6b-9a7e-3d2c1b0a9f8e", "spec.nodeName": "node-1",
	}
	wantInput := map[string]string{"sidecar": "forward", "daemonset": "file", "forward": "forward", "kafka-edge": "file", "kafka-consumer": "kafka"}
	wantOutput := map[string]string{"kafka-edge": config.OutputKafka}
	// The Secret shipper-elasticsearch is created from credentials.env,
	// whose keys credentials.env.example lists.
	secret := map[string]string{}
	example, err := os.ReadFile("base/credentials.env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(example), "\n") {
		if k, _, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			secret[k] = ""
		}
	}
	if len(secret) == 0 {
		t.Fatal("base/credentials.env.example lists no variable")
	}
	// Files the shipper checks for at start-up (TLS from a Secret volume).
	tlsFile := filepath.Join(t.TempDir(), "tls.pem")
	if err := os.WriteFile(tlsFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dir := range overlays[1:] {
		o := render(t, dir)
		cm := o.configMaps[0]
		var names []string
		for k := range cm.Data {
			names = append(names, k)
		}
		for k := range secret {
			names = append(names, k)
		}
		checkVariables(t, dir+": ConfigMap/Secret", known, names)
		for _, w := range o.workloads() {
			c := container(t, w, "shipper")
			where := dir + ": " + w.name + " shipper"
			vars := map[string]string{}
			for k, v := range cm.Data {
				vars[k] = v
			}
			for k, v := range secret {
				vars[k] = v
			}
			names = names[:0]
			for _, e := range c.Env {
				names = append(names, e.Name)
				switch {
				case e.ValueFrom == nil:
					vars[e.Name] = expand(e.Value, vars)
				case e.ValueFrom.FieldRef != nil:
					vars[e.Name] = downward[e.ValueFrom.FieldRef.FieldPath]
				case e.ValueFrom.ResourceFieldRef != nil:
					vars[e.Name] = limit(c, e.ValueFrom.ResourceFieldRef.Resource)
				case e.ValueFrom.SecretKeyRef != nil:
					vars[e.Name] = "from-" + e.ValueFrom.SecretKeyRef.Name
				}
				if strings.HasPrefix(e.Name, "SHIPPER_FORWARD_TLS_") {
					vars[e.Name] = tlsFile
				}
			}
			checkVariables(t, where, known, names)
			args := append(slices.Clone(c.Command), c.Args...)
			cfg := loadRun(t, where, args, vars)
			if got := strings.Join(cfg.Inputs, ","); got != wantInput[dir] {
				t.Errorf("%s: inputs %s, want %s", where, got, wantInput[dir])
			}
			if want := wantOutput[dir]; cfg.Output != want && !(want == "" && cfg.Output == config.OutputElasticsearch) {
				t.Errorf("%s: output %s, want %s", where, cfg.Output, want)
			}
			if cfg.HTTPAddress != ":8686" {
				t.Errorf("%s: status address %q, want :8686 (the probes' port)", where, cfg.HTTPAddress)
			}
			if cfg.Has(config.InputFile) && cfg.File.StateDir != vars["SHIPPER_STATE_DIR"] {
				t.Errorf("%s: state dir %q, want SHIPPER_STATE_DIR %q", where, cfg.File.StateDir, vars["SHIPPER_STATE_DIR"])
			}
		}
	}
}

// expand resolves $(VAR) references as the kubelet does.
func expand(s string, vars map[string]string) string {
	return os.Expand(strings.NewReplacer("$(", "${", ")", "}").Replace(s), func(k string) string { return vars[k] })
}

// limit returns a resource limit in the units the kubelet passes (bytes for
// memory, with divisor 1).
func limit(c *corev1.Container, resource string) string {
	name := corev1.ResourceName(strings.TrimPrefix(resource, "limits."))
	q, ok := c.Resources.Limits[name]
	if !ok {
		return ""
	}
	return q.String()
}

func TestComposeConfiguresTheShipper(t *testing.T) {
	known := knownVariables(t)
	p := loadCompose(t)
	for _, name := range []string{"setup", "shipper"} {
		s := service(t, p, name)
		vars := map[string]string{}
		var names []string
		for k, v := range s.Environment {
			names = append(names, k)
			if v != nil {
				vars[k] = *v
			}
		}
		checkVariables(t, "docker-compose.yml "+name, known, names)
		if name == "setup" {
			if _, err := config.LoadSetup("shipper setup", s.Command[1:], func(k string) string { return vars[k] }, io.Discard); err != nil {
				t.Errorf("docker-compose.yml setup: the configuration would be refused: %v", err)
			}
			continue
		}
		cfg := loadRun(t, "docker-compose.yml shipper", s.Command, vars)
		if !cfg.Has(config.InputForward) || cfg.HTTPAddress != ":8686" {
			t.Errorf("docker-compose.yml shipper: inputs %v, status address %q: want forward and :8686", cfg.Inputs, cfg.HTTPAddress)
		}
	}
}
