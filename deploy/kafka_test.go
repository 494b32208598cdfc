package deploy

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	autoscalingv2 "k8s.io/api/autoscaling/v2"

	"shipper/internal/config"
)

// The two-tier layout: edge shippers write to Kafka, a group of consuming
// shippers reads the topic into Elasticsearch.

// exportedSeries returns the metric names the Kafka input exports (read
// from its source: the names /metrics serves).
func exportedSeries(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "cmd", "shipper", "input_kafka.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`"(shipper_kafka_[a-z_]+)"`).FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = true
	}
	if !out["shipper_kafka_consumer_lag_sum"] {
		t.Fatalf("cannot find the lag series in input_kafka.go: %v", out)
	}
	return out
}

// TestKafkaTiersAgree: the edge DaemonSet writes the topic the consumers
// read, on the same brokers, and the autoscaler scales the consumers on
// the lag series they export.
func TestKafkaTiersAgree(t *testing.T) {
	edge, consumer := render(t, "kafka-edge"), render(t, "kafka-consumer")
	if len(edge.daemonSets) != 1 || len(consumer.deployments) != 1 {
		t.Fatalf("kafka-edge: %d DaemonSets, kafka-consumer: %d Deployments; want 1 and 1", len(edge.daemonSets), len(consumer.deployments))
	}
	e := container(t, edge.workloads()[0], "shipper")
	c := container(t, consumer.workloads()[0], "shipper")
	if envValue(e, "SHIPPER_OUTPUT") != "kafka" || envValue(c, "SHIPPER_INPUT") != "kafka" {
		t.Errorf("edge SHIPPER_OUTPUT=%q, consumer SHIPPER_INPUT=%q: want kafka and kafka", envValue(e, "SHIPPER_OUTPUT"), envValue(c, "SHIPPER_INPUT"))
	}
	if envValue(e, "SHIPPER_INPUT") != "file" {
		t.Errorf("edge SHIPPER_INPUT=%q: the patch must keep the DaemonSet's file input", envValue(e, "SHIPPER_INPUT"))
	}
	if b := envValue(e, "KAFKA_BROKERS"); b == "" || b != envValue(c, "KAFKA_BROKERS") {
		t.Errorf("brokers: edge %q, consumer %q: want the same", b, envValue(c, "KAFKA_BROKERS"))
	}
	if topic := envValue(e, "SHIPPER_KAFKA_TOPIC"); topic == "" || topic != envValue(c, "SHIPPER_KAFKA_TOPICS") {
		t.Errorf("topic: edge writes %q, consumers read %q", topic, envValue(c, "SHIPPER_KAFKA_TOPICS"))
	}
	if envValue(c, "SHIPPER_KAFKA_GROUP") == "" {
		t.Error("consumers: no SHIPPER_KAFKA_GROUP: every pod must be in the same group")
	}

	if len(consumer.autoscalers) != 1 {
		t.Fatalf("kafka-consumer: %d HorizontalPodAutoscalers, want 1", len(consumer.autoscalers))
	}
	h := consumer.autoscalers[0]
	d := consumer.deployments[0]
	if h.Spec.ScaleTargetRef.Kind != "Deployment" || h.Spec.ScaleTargetRef.Name != d.Name {
		t.Errorf("autoscaler targets %s/%s, want Deployment/%s", h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name, d.Name)
	}
	if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 1 || h.Spec.MaxReplicas < *h.Spec.MinReplicas {
		t.Errorf("replicas %v..%d: want 1 <= min <= max", h.Spec.MinReplicas, h.Spec.MaxReplicas)
	}
	series := exportedSeries(t)
	if len(h.Spec.Metrics) != 1 || h.Spec.Metrics[0].Type != autoscalingv2.ExternalMetricSourceType || h.Spec.Metrics[0].External == nil {
		t.Fatalf("autoscaler metrics %+v: want one External metric", h.Spec.Metrics)
	}
	m := h.Spec.Metrics[0].External
	// The adapter exposes the sum over the pods of a series the shipper
	// exports under the metric's name (see hpa.yaml).
	if !series[m.Metric.Name] && !series[m.Metric.Name+"_sum"] {
		t.Errorf("autoscaler metric %q: no such series from the shipper (%v)", m.Metric.Name, series)
	}
	if m.Target.Type != autoscalingv2.AverageValueMetricType || m.Target.AverageValue == nil || m.Target.AverageValue.Sign() <= 0 {
		t.Errorf("autoscaler target %+v: want a positive AverageValue (lag per consumer)", m.Target)
	}
	// Each scaling rebalances the group: scale down slowly.
	if b := h.Spec.Behavior; b == nil || b.ScaleDown == nil || b.ScaleDown.StabilizationWindowSeconds == nil || *b.ScaleDown.StabilizationWindowSeconds < 300 {
		t.Errorf("autoscaler behavior %+v: want a scale-down stabilization window of at least 5 minutes", h.Spec.Behavior)
	}
	// The HPA owns the count; rolling updates must not remove a consumer
	// before its successor runs.
	if s := d.Spec.Strategy.RollingUpdate; s == nil || s.MaxUnavailable == nil || s.MaxUnavailable.IntValue() != 0 {
		t.Errorf("consumer rolling update %+v: want maxUnavailable 0", d.Spec.Strategy.RollingUpdate)
	}
}

// loadComposeProfile loads ../docker-compose.yml with the given profiles on.
func loadComposeProfile(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root), cli.WithEnv(nil), cli.WithConsistency(true), cli.WithResolvedPaths(true),
		cli.WithProfiles(profiles))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml (profiles %v) does not load: %v", profiles, err)
	}
	return p
}

// TestComposeKafkaProfile: `docker compose --profile kafka up` adds a
// broker, an edge shipper writing to it, two consumers reading into
// Elasticsearch and a demo app logging to the edge; the default profile
// is unchanged (TestComposeServices).
func TestComposeKafkaProfile(t *testing.T) {
	known := knownVariables(t)
	p := loadComposeProfile(t, "kafka")
	for _, name := range []string{"kafka", "shipper-edge", "shipper-consumer", "demo-app-kafka"} {
		s := service(t, p, name)
		if len(s.Profiles) != 1 || s.Profiles[0] != "kafka" {
			t.Errorf("%s: profiles %v, want [kafka]", name, s.Profiles)
		}
	}
	broker := service(t, p, "kafka")
	advertised := env(broker, "KAFKA_ADVERTISED_LISTENERS")
	cfgs := map[string]config.Config{}
	for _, name := range []string{"shipper-edge", "shipper-consumer"} {
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
		cfg, err := config.Load("shipper run", s.Command[1:], func(k string) string { return vars[k] }, io.Discard)
		if err != nil {
			t.Errorf("docker-compose.yml %s: the shipper would refuse its configuration: %v", name, err)
		}
		cfgs[name] = cfg
		for _, b := range cfg.KafkaOut.Brokers {
			if !strings.Contains(advertised, "//"+b) {
				t.Errorf("%s: broker %s is not what the broker advertises (%s)", name, b, advertised)
			}
		}
		if _, ok := s.DependsOn["kafka"]; !ok {
			t.Errorf("%s: does not wait for kafka", name)
		}
		if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) <= cfg.ShutdownTimeout {
			t.Errorf("%s: stop_grace_period %v must exceed the shutdown timeout %s", name, s.StopGracePeriod, cfg.ShutdownTimeout)
		}
	}
	edge, consumer := cfgs["shipper-edge"], cfgs["shipper-consumer"]
	if edge.Output != config.OutputKafka || !edge.Has(config.InputForward) {
		t.Errorf("shipper-edge: inputs %v output %s, want forward -> kafka", edge.Inputs, edge.Output)
	}
	if !consumer.Has(config.InputKafka) || consumer.Output != config.OutputElasticsearch {
		t.Errorf("shipper-consumer: inputs %v output %s, want kafka -> elasticsearch", consumer.Inputs, consumer.Output)
	}
	if len(consumer.KafkaIn.Topics) != 1 || consumer.KafkaIn.Topics[0] != edge.KafkaOut.Topic {
		t.Errorf("the consumers read %v, the edge writes %q", consumer.KafkaIn.Topics, edge.KafkaOut.Topic)
	}
	c := service(t, p, "shipper-consumer")
	if c.Deploy == nil || c.Deploy.Replicas == nil || *c.Deploy.Replicas < 2 {
		t.Errorf("shipper-consumer: deploy %+v, want at least 2 replicas (one group)", c.Deploy)
	}
	if len(c.Ports) != 0 {
		t.Errorf("shipper-consumer publishes %v: replicas would collide", c.Ports)
	}
	demo := service(t, p, "demo-app-kafka")
	edgeSvc := service(t, p, "shipper-edge")
	addr := demo.Logging.Options["fluentd-address"]
	published := false
	for _, port := range edgeSvc.Ports {
		if port.HostIP == "127.0.0.1" && "localhost:"+port.Published == addr && port.Target == 24224 {
			published = true
		}
	}
	if !published {
		t.Errorf("demo-app-kafka logs to %q, which shipper-edge does not publish on loopback (%+v)", addr, edgeSvc.Ports)
	}
}
