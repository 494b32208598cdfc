package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// overlays are the directories kustomize renders; base is rendered too.
var overlays = []string{"base", "sidecar", "daemonset", "forward", "kafka-edge", "kafka-consumer"}

// statusPort is the port of /healthz, /readyz and /metrics
// (SHIPPER_HTTP_ADDRESS=:8686).
const statusPort = 8686

// objects are the decoded manifests of one file or one rendering.
type objects struct {
	namespaces  []corev1.Namespace
	configMaps  []corev1.ConfigMap
	secrets     []corev1.Secret
	services    []corev1.Service
	deployments []appsv1.Deployment
	daemonSets  []appsv1.DaemonSet
	netPolicies []networkingv1.NetworkPolicy
	autoscalers []autoscalingv2.HorizontalPodAutoscaler
}

// decodeStrict turns one YAML document into JSON and decodes it into v,
// rejecting what the API server would reject or silently drop: unknown
// fields, duplicate keys, and keys whose case differs from the API's
// (encoding/json alone matches "readonly" to readOnly).
func decodeStrict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("trailing data after the object")
	}
	strictErrs, err := sigsjson.UnmarshalStrict(j, v, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errorsJoin(strictErrs)
}

func errorsJoin(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	var b strings.Builder
	for i, e := range errs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Error())
	}
	return fmt.Errorf("%s", b.String())
}

// add decodes one Kubernetes object by its apiVersion and kind.
func (o *objects) add(doc []byte) error {
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	switch tm.APIVersion + "/" + tm.Kind {
	case "v1/Namespace":
		var x corev1.Namespace
		if err := decodeStrict(doc, &x); err != nil {
			return err
		}
		o.namespaces = append(o.namespaces, x)
	case "v1/ConfigMap":
		var x corev1.ConfigMap
		if err := decodeStrict(doc, &x); err != nil {
			return err
		}
		o.configMaps = append(o.configMaps, x)
	case "v1/Secret":
		var x corev1.Secret
		if err := decodeStrict(doc, &x); err != nil {
			return err
		}
		o.secrets = append(o.secrets, x)
	case "v1/Service":
		var x corev1.Service
		if err := decodeStrict(doc, &x); err != nil {
			return err
		}
		o.services = append(o.services, x)
	case "apps/v1/Deployment":
		var x appsv1.Deployment
		if err := decodeStrict(doc, &x); err != nil {
			return err
		}
		o.deployments = append(o.deployments, x)
	case "apps/v1/DaemonSet":
		var x appsv1.DaemonSet
		if err := decodeStrict(doc, &x); err != nil {
			return err
		}
		o.daemonSets = append(o.daemonSets, x)
	case "networking.k8s.io/v1/NetworkPolicy":
		var x networkingv1.NetworkPolicy
		if err := decodeStrict(doc, &x); err != nil {
			return err
		}
		o.netPolicies = append(o.netPolicies, x)
	case "autoscaling/v2/HorizontalPodAutoscaler":
		var x autoscalingv2.HorizontalPodAutoscaler
		if err := decodeStrict(doc, &x); err != nil {
			return err
		}
		o.autoscalers = append(o.autoscalers, x)
	default:
		// RBAC objects, service accounts and anything else are not expected:
		// the shipper needs no Kubernetes API access. A new kind needs a
		// case here, and a thought about why.
		return fmt.Errorf("unexpected object %s %s", tm.APIVersion, tm.Kind)
	}
	return nil
}

// splitDocs splits a multi-document YAML stream at its "---" lines,
// dropping documents that hold only comments.
func splitDocs(b []byte) [][]byte {
	var out [][]byte
	var cur []byte
	flush := func() {
		if len(bytes.TrimSpace(stripComments(cur))) > 0 {
			out = append(out, cur)
		}
		cur = nil
	}
	for _, l := range bytes.SplitAfter(b, []byte("\n")) {
		if t := bytes.TrimRight(l, "\r\n"); string(t) == "---" || bytes.HasPrefix(t, []byte("--- ")) {
			flush()
			continue
		}
		cur = append(cur, l...)
	}
	flush()
	return out
}

func stripComments(b []byte) []byte {
	var out []byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			out = append(out, l...)
			out = append(out, '\n')
		}
	}
	return out
}

// TestEveryManifestDecodesStrictly decodes every YAML file under deploy/:
// kustomization.yaml into kustomize's Kustomization, every other document
// into its Kubernetes API type.
func TestEveryManifestDecodesStrictly(t *testing.T) {
	var files int
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || (filepath.Ext(path) != ".yaml" && filepath.Ext(path) != ".yml") {
			return err
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if filepath.Base(path) == "kustomization.yaml" {
			var k kusttypes.Kustomization
			if err := decodeStrict(b, &k); err != nil {
				t.Errorf("%s: %v", path, err)
			}
			if k.APIVersion != kusttypes.KustomizationVersion || k.Kind != kusttypes.KustomizationKind {
				t.Errorf("%s: apiVersion %q kind %q, want %s %s", path, k.APIVersion, k.Kind, kusttypes.KustomizationVersion, kusttypes.KustomizationKind)
			}
			return nil
		}
		docs := splitDocs(b)
		if len(docs) == 0 {
			t.Errorf("%s: no object", path)
		}
		var o objects
		for i, doc := range docs {
			if err := o.add(doc); err != nil {
				t.Errorf("%s, document %d: %v", path, i+1, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 10 {
		t.Errorf("only %d YAML files found under deploy/", files)
	}
}

// TestDecodeStrictRejects shows what the strict decoding catches.
func TestDecodeStrictRejects(t *testing.T) {
	f := func(doc, want string) {
		t.Helper()
		var o objects
		err := o.add([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one mentioning %q", doc, err, want)
		}
	}
	const pod = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n"
	f(pod+"          volumeMount: []\n", `unknown field "volumeMount"`)
	f(pod+"          volumeMounts: [{name: v, mountPath: /v, readonly: true}]\n", `unknown field "spec.template.spec.containers[0].volumeMounts[0].readonly"`)
	f(pod+"          image: a\n          image: b\n", `already set`)
	f("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: x}\n", "unexpected object")
	f("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {A: 1}\n", "cannot unmarshal number")
}

// render runs kustomize on deploy/<dir> and decodes every resource strictly.
func render(t *testing.T, dir string) objects {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := k.Run(filesys.MakeFsOnDisk(), abs)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var o objects
	for _, r := range m.Resources() {
		b, err := r.AsYAML()
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if err := o.add(b); err != nil {
			t.Errorf("kustomize build %s: %s %s: %v\n%s", dir, r.GetKind(), r.GetName(), err, b)
		}
	}
	return o
}

func TestRenderedOverlaysDecodeStrictly(t *testing.T) {
	for _, dir := range overlays {
		o := render(t, dir)
		if len(o.configMaps) != 1 || len(o.secrets) != 0 {
			t.Errorf("%s: %d ConfigMaps and %d Secrets, want the shipper's ConfigMap and no Secret (no credentials in the repository)", dir, len(o.configMaps), len(o.secrets))
		}
		if dir != "base" && len(o.deployments)+len(o.daemonSets) == 0 {
			t.Errorf("%s: no workload", dir)
		}
	}
}

// workload is one pod template of a rendering, with where it came from.
type workload struct {
	name string // Kind/name
	spec *corev1.PodSpec
	tmpl *corev1.PodTemplateSpec
}

func (o *objects) workloads() []workload {
	var out []workload
	for i := range o.deployments {
		d := &o.deployments[i]
		out = append(out, workload{"Deployment/" + d.Name, &d.Spec.Template.Spec, &d.Spec.Template})
	}
	for i := range o.daemonSets {
		d := &o.daemonSets[i]
		out = append(out, workload{"DaemonSet/" + d.Name, &d.Spec.Template.Spec, &d.Spec.Template})
	}
	return out
}

// allContainers returns the init containers (native sidecars included),
// then the containers.
func allContainers(s *corev1.PodSpec) []*corev1.Container {
	var out []*corev1.Container
	for i := range s.InitContainers {
		out = append(out, &s.InitContainers[i])
	}
	for i := range s.Containers {
		out = append(out, &s.Containers[i])
	}
	return out
}

func container(t *testing.T, w workload, name string) *corev1.Container {
	t.Helper()
	for _, c := range allContainers(w.spec) {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("%s has no container %q", w.name, name)
	return nil
}

func envVar(c *corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func envValue(c *corev1.Container, name string) string {
	if e := envVar(c, name); e != nil {
		return e.Value
	}
	return ""
}

func checkFieldRef(t *testing.T, where string, c *corev1.Container, name, fieldPath string) {
	t.Helper()
	e := envVar(c, name)
	if e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != fieldPath || e.Value != "" {
		t.Errorf("%s: env %s must come from the downward API field %s, got %+v", where, name, fieldPath, e)
	}
}

// portNumber resolves a probe or Service target port against c's ports.
func portNumber(c *corev1.Container, p intstr.IntOrString) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	return -1
}

func checkHTTPProbe(t *testing.T, where, what string, c *corev1.Container, p *corev1.Probe, path string) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s: no %s probe (want GET %s on %d)", where, what, path, statusPort)
		return
	}
	if p.HTTPGet.Path != path || portNumber(c, p.HTTPGet.Port) != statusPort {
		t.Errorf("%s: %s probe GET %s on port %s (%d), want %s on %d", where, what, p.HTTPGet.Path, p.HTTPGet.Port.String(), portNumber(c, p.HTTPGet.Port), path, statusPort)
	}
}

// TestWorkloadsAreHardened checks every pod of every overlay: no token, no
// Kubernetes API objects, locked-down containers with resources, and the
// shipper's probes, configuration and credentials wired.
func TestWorkloadsAreHardened(t *testing.T) {
	for _, dir := range overlays[1:] {
		o := render(t, dir)
		if len(o.configMaps) != 1 || len(o.secrets) != 0 {
			t.Fatalf("%s: want one ConfigMap and no Secret", dir)
		}
		cm := o.configMaps[0]
		if !strings.HasPrefix(cm.Name, "shipper-config-") {
			t.Errorf("%s: generated name %s, want shipper-config-<hash>", dir, cm.Name)
		}
		if cm.Data["SHIPPER_HTTP_ADDRESS"] != fmt.Sprintf(":%d", statusPort) || !strings.HasPrefix(cm.Data["ELASTICSEARCH_URL"], "http") {
			t.Errorf("%s: ConfigMap data %v: want SHIPPER_HTTP_ADDRESS=:%d and an ELASTICSEARCH_URL", dir, cm.Data, statusPort)
		}
		shutdown, err := time.ParseDuration(cm.Data["SHIPPER_SHUTDOWN_TIMEOUT"])
		if err != nil {
			t.Errorf("%s: SHIPPER_SHUTDOWN_TIMEOUT: %v", dir, err)
		}
		for _, w := range o.workloads() {
			where := dir + ": " + w.name
			s := w.spec
			if s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken {
				t.Errorf("%s: automountServiceAccountToken must be false: the shipper needs no Kubernetes API", where)
			}
			if s.ServiceAccountName != "" || s.HostNetwork || s.HostPID || s.HostIPC {
				t.Errorf("%s: service account %q, host network/PID/IPC %v/%v/%v: want none", where, s.ServiceAccountName, s.HostNetwork, s.HostPID, s.HostIPC)
			}
			if g := s.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= shutdown {
				t.Errorf("%s: terminationGracePeriodSeconds %v must exceed SHIPPER_SHUTDOWN_TIMEOUT %s", where, g, shutdown)
			}
			for _, c := range allContainers(s) {
				where := where + " container " + c.Name
				checkContainerLockedDown(t, where, s, c, w.name == "DaemonSet/shipper" && c.Name == "shipper")
				for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
					if _, ok := c.Resources.Requests[r]; !ok {
						t.Errorf("%s: no %s request", where, r)
					}
					if _, ok := c.Resources.Limits[r]; !ok {
						t.Errorf("%s: no %s limit", where, r)
					}
				}
				if c.Name != "shipper" {
					continue
				}
				checkHTTPProbe(t, where, "liveness", c, c.LivenessProbe, "/healthz")
				if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
					// A native sidecar: readiness would tie the app's
					// readiness to Elasticsearch (see deployment.yaml).
					if c.ReadinessProbe != nil {
						t.Errorf("%s: a sidecar's readiness probe makes the app unready when Elasticsearch is", where)
					}
					checkHTTPProbe(t, where, "startup", c, c.StartupProbe, "/healthz")
				} else {
					checkHTTPProbe(t, where, "readiness", c, c.ReadinessProbe, "/readyz")
				}
				var fromCM, fromSecret bool
				for _, ef := range c.EnvFrom {
					fromCM = fromCM || (ef.ConfigMapRef != nil && ef.ConfigMapRef.Name == cm.Name)
					fromSecret = fromSecret || (ef.SecretRef != nil && ef.SecretRef.Name == "shipper-elasticsearch" &&
						ef.SecretRef.Optional != nil && *ef.SecretRef.Optional)
				}
				if !fromCM || !fromSecret {
					t.Errorf("%s: envFrom %+v does not reference the generated %s and the optional Secret shipper-elasticsearch", where, c.EnvFrom, cm.Name)
				}
				if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.ContainerPort == statusPort }) {
					t.Errorf("%s: port %d is not declared", where, statusPort)
				}
				switch in := envValue(c, "SHIPPER_INPUT"); in {
				case "file", "forward", "kafka":
				default:
					t.Errorf("%s: SHIPPER_INPUT=%q, want file, forward or kafka", where, in)
				}
			}
		}
	}
}

// checkContainerLockedDown: no privilege escalation, read-only root file
// system, every capability dropped, the runtime's seccomp profile, and a
// non-root user unless rootAllowed (the DaemonSet, see daemonset.yaml).
func checkContainerLockedDown(t *testing.T, where string, pod *corev1.PodSpec, c *corev1.Container, rootAllowed bool) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil {
		t.Errorf("%s: no securityContext", where)
		return
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: allowPrivilegeEscalation must be false", where)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("%s: privileged", where)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s: readOnlyRootFilesystem must be true", where)
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("%s: capabilities %+v, want drop [ALL] and no add", where, sc.Capabilities)
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil && pod.SecurityContext != nil {
		seccomp = pod.SecurityContext.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: seccomp profile %+v, want RuntimeDefault", where, seccomp)
	}
	user, nonRoot := effectiveUser(pod, c)
	if rootAllowed {
		if user == nil || *user != 0 {
			t.Errorf("%s: user %v, want 0 (to read root-owned log files as their owner)", where, user)
		}
		return
	}
	if !nonRoot || user == nil || *user == 0 {
		t.Errorf("%s: runAsNonRoot %v, user %v: want a non-root user, enforced", where, nonRoot, user)
	}
}

func effectiveUser(pod *corev1.PodSpec, c *corev1.Container) (user *int64, nonRoot bool) {
	if p := pod.SecurityContext; p != nil {
		user = p.RunAsUser
		nonRoot = p.RunAsNonRoot != nil && *p.RunAsNonRoot
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			user = sc.RunAsUser
		}
		if sc.RunAsNonRoot != nil {
			nonRoot = *sc.RunAsNonRoot
		}
	}
	return user, nonRoot
}

// hostPathVolumes maps volume name -> host path.
func hostPathVolumes(s *corev1.PodSpec) map[string]string {
	out := map[string]string{}
	for _, v := range s.Volumes {
		if v.HostPath != nil {
			out[v.Name] = v.HostPath.Path
		}
	}
	return out
}

// TestSidecarSendsOverLoopback: the sidecar pod mounts nothing from the
// host and has no service account token; the app sends to the shipper's
// Forward input on the pod's loopback, which needs no shared key.
func TestSidecarSendsOverLoopback(t *testing.T) {
	o := render(t, "sidecar")
	ws := o.workloads()
	if len(ws) != 1 || len(o.daemonSets) != 0 {
		t.Fatalf("sidecar: %d workloads, want the one app Deployment", len(ws))
	}
	w := ws[0]
	s := w.spec
	if s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken must be false", w.name)
	}
	if hp := hostPathVolumes(s); len(hp) != 0 {
		t.Errorf("%s: host path volumes %v, want none", w.name, hp)
	}
	shipper := container(t, w, "shipper")
	if shipper.RestartPolicy == nil || *shipper.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("%s: the shipper is not a native sidecar (init container with restartPolicy Always)", w.name)
	}
	if in, addr := envValue(shipper, "SHIPPER_INPUT"), envValue(shipper, "SHIPPER_FORWARD_ADDRESS"); in != "forward" || addr != "127.0.0.1:24224" {
		t.Errorf("%s: SHIPPER_INPUT=%q SHIPPER_FORWARD_ADDRESS=%q, want forward on 127.0.0.1:24224", w.name, in, addr)
	}
	if envVar(shipper, "SHIPPER_FORWARD_INSECURE") != nil {
		t.Errorf("%s: SHIPPER_FORWARD_INSECURE set: the loopback needs no opt-in", w.name)
	}
	app := container(t, w, "demo-app")
	if got := envValue(app, "FLUENT_ADDRESS"); got != "127.0.0.1:24224" {
		t.Errorf("%s: the app's FLUENT_ADDRESS=%q, want the sidecar's 127.0.0.1:24224", w.name, got)
	}
	if len(app.VolumeMounts) != 0 {
		t.Errorf("%s: the app mounts %v, want nothing", w.name, app.VolumeMounts)
	}
}

// checkStateDir: SHIPPER_STATE_DIR is a writable mount.
func checkStateDir(t *testing.T, where string, c *corev1.Container) {
	t.Helper()
	dir := envValue(c, "SHIPPER_STATE_DIR")
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == dir && !m.ReadOnly }) {
		t.Errorf("%s: SHIPPER_STATE_DIR=%q is not a writable mount (the root file system is read-only)", where, dir)
	}
}

func TestDaemonSetReadsNodeLogsReadOnly(t *testing.T) {
	o := render(t, "daemonset")
	if len(o.daemonSets) != 1 || len(o.deployments) != 0 {
		t.Fatalf("daemonset: %d DaemonSets, %d Deployments, want 1 and 0", len(o.daemonSets), len(o.deployments))
	}
	w := o.workloads()[0]
	s := w.spec
	shipper := container(t, w, "shipper")
	hostPaths := hostPathVolumes(s)
	want := map[string]bool{"/var/log/containers": true, "/var/log/pods": true, "/var/lib/shipper": false} // path -> read-only
	mounted := map[string]bool{}
	for _, m := range shipper.VolumeMounts {
		path, ok := hostPaths[m.Name]
		if !ok {
			continue
		}
		ro, expected := want[path]
		switch {
		case !expected:
			t.Errorf("%s: unexpected host path %s", w.name, path)
		case m.ReadOnly != ro:
			t.Errorf("%s: %s mounted readOnly=%v, want %v", w.name, path, m.ReadOnly, ro)
		case m.MountPath != path:
			t.Errorf("%s: %s mounted at %s: keep the node's path, the /var/log/containers symlinks point into /var/log/pods", w.name, path, m.MountPath)
		}
		mounted[path] = true
	}
	if len(mounted) != len(want) || len(hostPaths) != len(want) {
		t.Errorf("%s: host paths %v, mounted %v, want %v", w.name, hostPaths, mounted, want)
	}
	if envValue(shipper, "SHIPPER_STATE_DIR") != "/var/lib/shipper" {
		t.Errorf("%s: SHIPPER_STATE_DIR=%q, want /var/lib/shipper (the host path)", w.name, envValue(shipper, "SHIPPER_STATE_DIR"))
	}
	checkStateDir(t, w.name, shipper)
	if envValue(shipper, "SHIPPER_INPUT") != "file" {
		t.Errorf("%s: SHIPPER_INPUT=%q, want file", w.name, envValue(shipper, "SHIPPER_INPUT"))
	}
	checkFieldRef(t, w.name, shipper, "NODE_NAME", "spec.nodeName")
	if !slices.ContainsFunc(s.Tolerations, func(tl corev1.Toleration) bool {
		return tl.Operator == corev1.TolerationOpExists && tl.Key == "" && tl.Effect == ""
	}) {
		t.Errorf("%s: tolerations %+v do not tolerate every taint (operator Exists, no key, no effect)", w.name, s.Tolerations)
	}
	if s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken must be false", w.name)
	}
}

func TestForwardServiceReachesTheForwardInput(t *testing.T) {
	o := render(t, "forward")
	if len(o.services) != 1 || len(o.deployments) != 1 {
		t.Fatalf("forward: %d Services and %d Deployments, want 1 and 1", len(o.services), len(o.deployments))
	}
	svc, d := o.services[0], o.deployments[0]
	if len(svc.Spec.Selector) == 0 {
		t.Fatalf("Service %s has no selector", svc.Name)
	}
	for k, v := range svc.Spec.Selector {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("Service %s selects %s=%s, which the pods of %s do not carry", svc.Name, k, v, d.Name)
		}
	}
	w := o.workloads()[0]
	shipper := container(t, w, "shipper")
	var found bool
	for _, p := range svc.Spec.Ports {
		if p.Port != 24224 {
			continue
		}
		found = true
		if p.Protocol != corev1.ProtocolTCP || portNumber(shipper, p.TargetPort) != 24224 {
			t.Errorf("Service port 24224: protocol %s, target %s (%d), want TCP to the container's 24224", p.Protocol, p.TargetPort.String(), portNumber(shipper, p.TargetPort))
		}
	}
	if !found {
		t.Errorf("Service %s has no port 24224", svc.Name)
	}
	if envValue(shipper, "SHIPPER_INPUT") != "forward" {
		t.Errorf("%s: SHIPPER_INPUT=%q, want forward", w.name, envValue(shipper, "SHIPPER_INPUT"))
	}
	if len(hostPathVolumes(w.spec)) != 0 {
		t.Errorf("%s: host path volumes %v, want none", w.name, hostPathVolumes(w.spec))
	}
}

// TestForwardIsAuthenticated: the Forward endpoint listens beyond loopback
// only with a shared key and TLS, both from Secrets, and a NetworkPolicy
// admits only labelled namespaces to its port.
func TestForwardIsAuthenticated(t *testing.T) {
	o := render(t, "forward")
	w := o.workloads()[0]
	shipper := container(t, w, "shipper")
	if envVar(shipper, "SHIPPER_FORWARD_INSECURE") != nil {
		t.Errorf("%s: SHIPPER_FORWARD_INSECURE is set", w.name)
	}
	key := envVar(shipper, "SHIPPER_FORWARD_SHARED_KEY")
	if key == nil || key.Value != "" || key.ValueFrom == nil || key.ValueFrom.SecretKeyRef == nil ||
		key.ValueFrom.SecretKeyRef.Name != "shipper-forward" || key.ValueFrom.SecretKeyRef.Optional != nil && *key.ValueFrom.SecretKeyRef.Optional {
		t.Errorf("%s: SHIPPER_FORWARD_SHARED_KEY %+v, want it from the (required) Secret shipper-forward", w.name, key)
	}
	cert, keyFile := envValue(shipper, "SHIPPER_FORWARD_TLS_CERT_FILE"), envValue(shipper, "SHIPPER_FORWARD_TLS_KEY_FILE")
	var tlsMount *corev1.VolumeMount
	for i, m := range shipper.VolumeMounts {
		if strings.HasPrefix(cert, m.MountPath+"/") && strings.HasPrefix(keyFile, m.MountPath+"/") {
			tlsMount = &shipper.VolumeMounts[i]
		}
	}
	if tlsMount == nil || !tlsMount.ReadOnly {
		t.Fatalf("%s: TLS files %q and %q are not on a read-only mount", w.name, cert, keyFile)
	}
	for _, v := range w.spec.Volumes {
		if v.Name == tlsMount.Name && (v.Secret == nil || v.Secret.SecretName != "shipper-forward-tls") {
			t.Errorf("%s: volume %s is not the Secret shipper-forward-tls", w.name, v.Name)
		}
	}
	if filepath.Base(cert) != corev1.TLSCertKey || filepath.Base(keyFile) != corev1.TLSPrivateKeyKey {
		t.Errorf("%s: TLS files %s and %s, want the keys of a kubernetes.io/tls Secret (%s, %s)", w.name, cert, keyFile, corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	}
	if len(o.netPolicies) != 1 {
		t.Fatalf("forward: %d NetworkPolicies, want 1", len(o.netPolicies))
	}
	np := o.netPolicies[0]
	for k, v := range np.Spec.PodSelector.MatchLabels {
		if w.tmpl.Labels[k] != v {
			t.Errorf("NetworkPolicy %s selects %s=%s, which the pods do not carry", np.Name, k, v)
		}
	}
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
		t.Errorf("NetworkPolicy %s: policy types %v, want Ingress", np.Name, np.Spec.PolicyTypes)
	}
	var forwardRule bool
	for _, r := range np.Spec.Ingress {
		if len(r.From) == 0 {
			t.Errorf("NetworkPolicy %s: a rule admits every source", np.Name)
		}
		for _, f := range r.From {
			if f.NamespaceSelector == nil || len(f.NamespaceSelector.MatchLabels)+len(f.NamespaceSelector.MatchExpressions) == 0 || f.IPBlock != nil {
				t.Errorf("NetworkPolicy %s: source %+v is not a labelled namespace selection", np.Name, f)
			}
		}
		for _, p := range r.Ports {
			forwardRule = forwardRule || p.Port != nil && p.Port.IntValue() == 24224
		}
	}
	if !forwardRule {
		t.Errorf("NetworkPolicy %s: no rule for port 24224", np.Name)
	}
}
