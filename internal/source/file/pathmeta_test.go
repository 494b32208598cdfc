package file

import (
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	f := func(path string, want PathMeta, wantOK bool) {
		t.Helper()
		got, ok := ParsePath(path)
		if ok != wantOK || (ok && got != want) {
			t.Fatalf("ParsePath(%q) =\n%+v, %v; want\n%+v, %v", path, got, ok, want, wantOK)
		}
	}
	const uid = "0f1e2d3c-aaaa-bbbb-cccc-0123456789ab"
	id := strings.Repeat("ab12", 16)
	pods := PathMeta{Kind: PathPods, Namespace: "kube-system", Pod: "coredns-5d78c9869d-x7k2p", PodUID: uid, Container: "coredns", Restart: 3}
	f("/var/log/pods/kube-system_coredns-5d78c9869d-x7k2p_"+uid+"/coredns/3.log", pods, true)
	f("/host/var/log/pods/kube-system_coredns-5d78c9869d-x7k2p_"+uid+"/coredns/3.log.20240501-100000", pods, true)
	f("/var/log/pods/kube-system_coredns-5d78c9869d-x7k2p_"+uid+"/coredns/3.log.20240501-100000.gz", pods, true)
	f("/var/log/pods/"+uid+"/nginx_0.log",
		PathMeta{Kind: PathPods, PodUID: uid, Container: "nginx", Restart: 0}, true)
	f("/var/log/pods/ns_pod_"+uid+"/c/x.log", PathMeta{}, false)
	f("/var/log/pods/ns_pod/c/0.log", PathMeta{}, false)
	f("/var/log/pods/ns_pod_uid_extra/c/0.log", PathMeta{}, false)
	f("/var/log/pods/ns_pod_"+uid+"/c/0.logx", PathMeta{}, false)

	f("/var/log/containers/web-7d9f8-abcde_default_my-app-"+id+".log",
		PathMeta{Kind: PathContainers, Pod: "web-7d9f8-abcde", Namespace: "default", Container: "my-app", ContainerID: id, Restart: -1}, true)
	// Cut at 255 bytes: the ID is short, and Truncated says so.
	pod := strings.Repeat("p", 180)
	name := (pod + "_default_my-app-" + id)[:251] + ".log"
	f("/var/log/containers/"+name,
		PathMeta{Kind: PathContainers, Pod: pod, Namespace: "default", Container: "my-app", ContainerID: id[:251-180-len("_default_my-app-")], Restart: -1, Truncated: true}, true)
	f("/var/log/containers/nounderscore.log", PathMeta{}, false)
	f("/var/log/containers/p_ns_noid.log", PathMeta{}, false)
	f("/var/log/containers/p_ns_c-.log", PathMeta{}, false)

	f("/var/lib/docker/containers/"+id+"/"+id+"-json.log",
		PathMeta{Kind: PathDocker, ContainerID: id, Restart: -1}, true)
	f("/var/lib/docker/containers/"+id+"/"+id+"-json.log.3",
		PathMeta{Kind: PathDocker, ContainerID: id, Restart: -1}, true)
	f("/var/lib/docker/containers/"+id+"/other-json.log", PathMeta{}, false)

	f("/var/log/syslog", PathMeta{}, false)
	f("", PathMeta{}, false)
	f("app.log", PathMeta{}, false)
}

func TestParsePathZeroAllocs(t *testing.T) {
	path := "/var/log/containers/web-7d9f8-abcde_default_my-app-" + strings.Repeat("a", 64) + ".log"
	if a := testing.AllocsPerRun(100, func() { ParsePath(path) }); a != 0 {
		t.Fatalf("%v allocations, want 0", a)
	}
}

func TestPathFields(t *testing.T) {
	id := strings.Repeat("ab", 32)
	f := func(path, want string) {
		t.Helper()
		s := &Source{}
		got := s.pathFields(path)
		if string(got.b[StreamNone]) != want || string(got.b[StreamStdout]) != want+`,"stream":"stdout"` ||
			string(got.b[StreamStderr]) != want+`,"stream":"stderr"` {
			t.Errorf("pathFields(%q) =\n%s\nwant\n%s", path, got.b[StreamStdout], want)
		}
		// Each stream's fields have an id of their own: the parser
		// skips comparing fields only for the same id.
		if id := got.id; id[0] == 0 || id[0] == id[1] || id[1] == id[2] || id[0] == id[2] {
			t.Errorf("pathFields(%q): ids %v, want three different ones", path, id)
		}
	}
	// A kubelet link: its name is the fields, the path would repeat them.
	f("/var/log/containers/web-7d4_shop_nginx-"+id+".log",
		`"kubernetes.namespace":"shop","kubernetes.pod.name":"web-7d4","kubernetes.container.name":"nginx","container.id":"`+id+`"`)
	// A link name cut at 255 bytes: the ID is not whole, the path stays.
	long := "/var/log/containers/" + strings.Repeat("p", 200) + "_shop_nginx-" + id + ".log"
	cut := long[:len("/var/log/containers/")+251] + ".log"
	m, _ := ParsePath(cut)
	f(cut, `"log.file.path":"`+cut+`","kubernetes.namespace":"shop","kubernetes.pod.name":"`+m.Pod+`","kubernetes.container.name":"`+m.Container+`"`)
	// /var/log/pods: the restart count and rotation suffix are only in the path.
	f("/var/log/pods/shop_web-7d4_6f1c-uid/nginx/1.log",
		`"log.file.path":"/var/log/pods/shop_web-7d4_6f1c-uid/nginx/1.log","kubernetes.namespace":"shop","kubernetes.pod.name":"web-7d4","kubernetes.pod.uid":"6f1c-uid","kubernetes.container.name":"nginx"`)
	// Anything else: the path is all there is.
	f("/srv/app.log", `"log.file.path":"/srv/app.log"`)
}
