// Package kafkatest is the harness of the integration tests that talk to a
// real Kafka broker. Those tests carry the build tag `integration` and read the
// broker list from KAFKA_BROKERS; `make test-integration` starts a throw-away
// single-node broker (KRaft, loopback) with scripts/kafka.sh and sets it.
//
// Tests that need a broker of their own (to stop or kill it) call Start, which
// runs scripts/kafka.sh with a private state file.
package kafkatest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// EnvBrokers is the environment variable holding the comma-separated broker
// addresses (host:port).
const EnvBrokers = "KAFKA_BROKERS"

// inCI reports whether we run in CI, where a missing broker is an error.
func inCI() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v != "" && v != "false" && v != "0"
}

// Brokers returns the addresses in KAFKA_BROKERS. When it is unset the test is
// skipped, or fails when CI is set: there a missing broker is a broken
// harness, not a reason to skip.
func Brokers(t testing.TB) []string {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(EnvBrokers))
	if v == "" {
		msg := EnvBrokers + " is not set: run `make test-integration`, which starts a real Kafka broker " +
			"(scripts/kafka.sh run -- go test -tags integration ...)"
		if inCI() {
			t.Fatal(msg + " [CI is set: failing instead of skipping]")
		}
		t.Skip(msg)
	}
	var out []string
	for _, b := range strings.Split(v, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// Unique returns prefix followed by 8 random hex digits: topic names that no
// other test (or package running in parallel against the same broker) uses.
func Unique(prefix string) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b[:])
}

// Broker is a broker of the test's own, started by Start.
type Broker struct {
	// Brokers is the address list to connect to.
	Brokers []string
	t       testing.TB
	script  string
	state   string
}

// Start starts a private single-node broker with scripts/kafka.sh (a state
// file in t.TempDir()) and stops it when the test ends. It is skipped (or
// fails in CI) like Brokers when KAFKA_BROKERS is unset: that variable says
// the harness can run a broker here. A start takes ~10-20 s.
func Start(t testing.TB) *Broker {
	t.Helper()
	Brokers(t)
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "..", "scripts", "kafka.sh")
	b := &Broker{t: t, script: script, state: filepath.Join(t.TempDir(), "kafka.state")}
	b.Brokers = []string{b.run("start")}
	t.Cleanup(func() { b.run("stop") })
	return b
}

// Restart stops the broker (SIGKILL when kill is set, else SIGTERM) and starts
// it again on the same port with the same data; it returns once the broker
// serves again.
func (b *Broker) Restart(kill bool) {
	b.t.Helper()
	if kill {
		b.run("restart", "--kill")
	} else {
		b.run("restart")
	}
}

func (b *Broker) run(args ...string) string {
	b.t.Helper()
	cmd := exec.Command(b.script, args...)
	cmd.Env = append(os.Environ(), "SHIPPER_KAFKA_STATE="+b.state)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.t.Fatalf("kafka.sh %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	b.t.Logf("kafka.sh %s: %s", strings.Join(args, " "), strings.TrimSpace(stderr.String()))
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "export "+EnvBrokers+"="))
}
