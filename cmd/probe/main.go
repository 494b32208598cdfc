// Command probe is the health check of the container images, which have no
// shell, curl or wget (distroless static): it GETs each URL and exits 0 when
// every answer is 2xx, 1 otherwise, saying why on stderr.
//
// Usage:
//
//	probe [--timeout=2s] URL...
//
// docker-compose.yml runs it as `probe http://127.0.0.1:8686/readyz`.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stderr))
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 2*time.Second, "time limit of each request")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: probe [--timeout=2s] URL...\n\nGETs each URL; exit 0 when every answer is 2xx, else 1.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	client := &http.Client{Timeout: *timeout}
	for _, u := range fs.Args() {
		if err := get(ctx, client, u); err != nil {
			fmt.Fprintf(stderr, "probe: %v\n", err)
			return 1
		}
	}
	return 0
}

func get(ctx context.Context, client *http.Client, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("bad URL %q: %w", u, err)
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("GET %s: HTTP %d: %s", u, res.StatusCode, body)
	}
	return nil
}
