package main

import (
	"encoding/json"
	"testing"

	"shipper/internal/config"
)

func TestStaticFields(t *testing.T) {
	f := func(details bool, want map[string]any) {
		t.Helper()
		cfg := config.Default()
		cfg.HostName = `node "7"`
		cfg.AgentDetails = details
		b := staticFields(&cfg, 0xabc)
		var got map[string]any
		if err := json.Unmarshal(append(append([]byte{'{'}, b...), '}'), &got); err != nil {
			t.Fatalf("static fields %q are not JSON members: %v", b, err)
		}
		if len(got) != len(want) {
			t.Fatalf("agent details %v: got %v, want %v", details, got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("agent details %v: %s = %v, want %v (all: %v)", details, k, got[k], v, got)
			}
		}
	}
	f(false, map[string]any{"agent.type": "shipper", "agent.name": `node "7"`, "host.name": `node "7"`})
	f(true, map[string]any{"agent.type": "shipper", "agent.name": `node "7"`, "host.name": `node "7"`, "ecs.version": "8.11.0",
		"agent.version": version, "agent.ephemeral_id": "0000000000000abc"})
}
