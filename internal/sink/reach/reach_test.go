package reach

import "testing"

func TestTracker(t *testing.T) {
	var tr Tracker
	if ok, since, msg := tr.State(); !ok.IsZero() || !since.IsZero() || msg != "" {
		t.Fatalf("zero tracker: got %v %v %q", ok, since, msg)
	}
	tr.Failed("refused")
	_, first, msg := tr.State()
	if first.IsZero() || msg != "refused" {
		t.Fatalf("after a failure: got since %v, error %q", first, msg)
	}
	tr.Failed("timeout")
	if _, since, msg := tr.State(); !since.Equal(first) || msg != "timeout" {
		t.Fatalf("a second failure: got since %v (want the first, %v), error %q", since, first, msg)
	}
	tr.Reached(false)
	if ok, since, msg := tr.State(); !ok.IsZero() || !since.IsZero() || msg != "" {
		t.Fatalf("reached without success: got last success %v, since %v, error %q", ok, since, msg)
	}
	tr.Failed("cut")
	tr.Reached(true)
	if ok, since, msg := tr.State(); ok.IsZero() || !since.IsZero() || msg != "" {
		t.Fatalf("success: got last success %v, since %v, error %q", ok, since, msg)
	}
}
