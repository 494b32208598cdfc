package deploy

import (
	"slices"
	"testing"

	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// claimedLevels is the Pod Security level each overlay's namespace enforces
// and docs/security.md states. The DaemonSet reads every container's log
// files from the node, which only hostPath volumes allow: its namespace is
// privileged, and forbiddenAt lists the one exception it needs.
var claimedLevels = map[string]psapi.Level{
	"sidecar":   psapi.LevelRestricted,
	"forward":   psapi.LevelRestricted,
	"daemonset": psapi.LevelPrivileged,
	// The edge tier is the DaemonSet writing to Kafka: the same exceptions.
	"kafka-edge":     psapi.LevelPrivileged,
	"kafka-consumer": psapi.LevelRestricted,
}

// forbiddenAt: what the Pod Security Admission checks of the baseline and
// restricted levels forbid in each workload, by the checks' own reasons.
var forbiddenAt = map[string]map[psapi.Level][]string{
	"daemonset": {
		psapi.LevelBaseline:   {"hostPath volumes"},
		psapi.LevelRestricted: {"runAsNonRoot != true", "runAsUser=0", "restricted volume types"},
	},
	"kafka-edge": {
		psapi.LevelBaseline:   {"hostPath volumes"},
		psapi.LevelRestricted: {"runAsNonRoot != true", "runAsUser=0", "restricted volume types"},
	},
}

// TestPodSecurityLevels evaluates every workload with the checks of the
// Pod Security Admission controller (k8s.io/pod-security-admission) at the
// level its namespace enforces, and at the stricter levels to show exactly
// which exceptions a privileged namespace is for.
func TestPodSecurityLevels(t *testing.T) {
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for dir, claimed := range claimedLevels {
		o := render(t, dir)
		if len(o.namespaces) != 1 {
			t.Fatalf("%s: %d namespaces, want 1", dir, len(o.namespaces))
		}
		ns := o.namespaces[0]
		enforce, err := psapi.ParseLevel(ns.Labels[psapi.EnforceLevelLabel])
		if err != nil || enforce != claimed {
			t.Errorf("%s: namespace %s enforces %q, want %q", dir, ns.Name, ns.Labels[psapi.EnforceLevelLabel], claimed)
		}
		for _, w := range o.workloads() {
			for _, level := range []psapi.Level{psapi.LevelBaseline, psapi.LevelRestricted} {
				res := policy.AggregateCheckResults(eval.EvaluatePod(psapi.LevelVersion{Level: level, Version: psapi.LatestVersion()}, &w.tmpl.ObjectMeta, w.spec))
				want := forbiddenAt[dir][level]
				if claimed != psapi.LevelPrivileged && (claimed == level || claimed == psapi.LevelRestricted) {
					want = nil // must pass
				}
				got := res.ForbiddenReasons
				slices.Sort(got)
				want = slices.Clone(want)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("%s %s at %s: forbidden %q, want %q (%s)", dir, w.name, level, got, want, res.ForbiddenDetail())
				}
			}
		}
	}
}
