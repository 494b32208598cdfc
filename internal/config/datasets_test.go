package config

import (
	"io"
	"strings"
	"testing"
)

func TestDatasetLimits(t *testing.T) {
	f := func(args []string, wantErr string) {
		t.Helper()
		c, err := Load("test", args, func(string) string { return "" }, io.Discard)
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("%v: %v", args, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Errorf("%v: error %v, want one with %q", args, err, wantErr)
		case wantErr == "" && len(args) == 0 && (c.MaxDatasets != 50 || len(c.DatasetsAllowed) != 0):
			t.Errorf("defaults: MaxDatasets %d, DatasetsAllowed %v; want 50 and none", c.MaxDatasets, c.DatasetsAllowed)
		}
	}
	f(nil, "")
	f([]string{"--datasets-allowed=app,nginx.*", "--max-datasets=0"}, "")
	f([]string{"--max-datasets=-1"}, "--max-datasets -1 must not be negative")
	f([]string{"--datasets-allowed=My-App"}, "--datasets-allowed")
}
