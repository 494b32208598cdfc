// Package nodefluent runs Node's fluent-logger, the npm package that
// scripts/prereqs.sh installs, for tests that need a real Fluent Forward
// client sending batched requests (PackedForward and
// CompressedPackedForward): the Go and Python loggers send one record per
// request. FindModules finds the other npm packages installed with it.
package nodefluent

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Find returns the node binary and the node_modules directory that holds
// fluent-logger: $SHIPPER_NODE_CACHE/node_modules, else the one under the
// user's cache directory (${XDG_CACHE_HOME:-$HOME/.cache}/shipper/node),
// where scripts/prereqs.sh installs it.
func Find() (node, modules string, err error) { return FindModules("fluent-logger") }

// FindModules is Find for the npm packages pkgs, which scripts/prereqs.sh
// installs beside fluent-logger (the logging libraries pino, winston and
// bunyan): it fails unless every one is there.
func FindModules(pkgs ...string) (node, modules string, err error) {
	if node, err = exec.LookPath("node"); err != nil {
		return "", "", err
	}
	dir := os.Getenv("SHIPPER_NODE_CACHE")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", "", err
		}
		dir = filepath.Join(cache, "shipper", "node")
	}
	modules = filepath.Join(dir, "node_modules")
	for _, pkg := range pkgs {
		if _, err := os.Stat(filepath.Join(modules, pkg, "package.json")); err != nil {
			return "", "", fmt.Errorf("%s not installed in %s (scripts/prereqs.sh installs it): %w", pkg, modules, err)
		}
	}
	return node, modules, nil
}

// Send is the options of Command.
type Send struct {
	Port  int
	Mode  string // "PackedForward" or "CompressedPackedForward" ("Message" works too)
	N     int    // records
	First int    // the first record's number
	Tag   string // the sender's tag prefix; records go to Tag + ".app"
}

// Command returns the command that sends s.N records to 127.0.0.1:s.Port
// with acks (requireAckResponse) and exits 0 once every one is
// acknowledged. Record i (from s.First) is Docker-shaped when i is even,
// {container_id: 64 × "a", container_name: "/web-1", source: "stdout",
// log: {"level":"info","msg":"line <i>","seq":<i>}}, else
// {msg: "line <i>", level: "warn", seq: <i>, nested: {k: [1, "a"]}}; its time
// is 1700000000+i seconds when i%3 == 0, else an EventTime 250 ms later.
func Command(node, modules string, s Send) *exec.Cmd {
	cmd := exec.Command(node, "-e", script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "MODE="+s.Mode, "TAG="+s.Tag,
		fmt.Sprintf("N=%d", s.N), fmt.Sprintf("FIRST=%d", s.First), fmt.Sprintf("PORT=%d", s.Port))
	return cmd
}

const script = `
const logger = require('fluent-logger');
const n = +process.env.N, first = +process.env.FIRST;
const s = logger.createFluentSender(process.env.TAG, {host: '127.0.0.1', port: +process.env.PORT,
  timeout: 5.0, eventMode: process.env.MODE, flushInterval: 20, requireAckResponse: true,
  ackResponseTimeout: 120000, enableReconnect: false});
s.on('error', (err) => { console.error('error', err); process.exit(1); });
let pending = n;
for (let k = 0; k < n; k++) {
  const i = first + k;
  const rec = i % 2 === 0
    ? {container_id: 'a'.repeat(64), container_name: '/web-1', source: 'stdout',
       log: JSON.stringify({level: 'info', msg: 'line ' + i, seq: i})}
    : {msg: 'line ' + i, level: 'warn', seq: i, nested: {k: [1, 'a']}};
  const time = i % 3 === 0 ? 1700000000 + i : new logger.EventTime(1700000000 + i, 250000000);
  s.emit('app', rec, time, (err) => {
    if (err) { console.error('emit', i, err); process.exit(1); }
    if (--pending === 0) { s.end(); }
  });
}
`
