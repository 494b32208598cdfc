package elasticsearch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// bulkFilterPath keeps only what the classifier reads: one small object per
// item, in request order (every item has a status).
var bulkFilterPath = []string{"errors", "items.*.status", "items.*.error.type", "items.*.error.reason", "items.*.error.caused_by.reason"}

// bulkFilterPathStatus is what a round needs unless a document is to be
// dead-lettered: the statuses. The reasons of 20,000 items failed while a
// restarted node recovers its shards made answers of several MiB per
// worker; they are asked for (bulkFilterPath) only once a rejected
// document needs them.
var bulkFilterPathStatus = []string{"errors", "items.*.status"}

// bulkPathStatus and bulkPathReasons are the bulk API's paths with
// bulkFilterPathStatus and bulkFilterPath.
var (
	bulkPathStatus  = "/_bulk?filter_path=" + strings.Join(bulkFilterPathStatus, ",")
	bulkPathReasons = "/_bulk?filter_path=" + strings.Join(bulkFilterPath, ",")
)

// bulkPaths returns bulkPathStatus and bulkPathReasons for a request whose
// default target is index (POST /<index>/_bulk), or as they are for "".
func bulkPaths(index string) (status, reasons string) {
	if index == "" {
		return bulkPathStatus, bulkPathReasons
	}
	prefix := "/" + url.PathEscape(index)
	return prefix + bulkPathStatus, prefix + bulkPathReasons
}

// itemResult is one bulk item's outcome.
type itemResult struct {
	Status int `json:"status"`
	Error  *struct {
		Type     string `json:"type"`
		Reason   string `json:"reason"`
		CausedBy *struct {
			Reason string `json:"reason"`
		} `json:"caused_by"`
	} `json:"error"`
}

func (r *itemResult) errorType() string {
	if r.Error == nil {
		return ""
	}
	return r.Error.Type
}

func (r *itemResult) reason() string {
	if r.Error == nil {
		return fmt.Sprintf("status %d", r.Status)
	}
	s := r.Error.Reason
	if r.Error.CausedBy != nil && r.Error.CausedBy.Reason != "" && r.Error.CausedBy.Reason != s {
		s += ": " + r.Error.CausedBy.Reason
	}
	return s
}

// verdict is what to do with one item.
type verdict uint8

const (
	delivered  verdict = iota // indexed, or already there (409 on create)
	retry                     // transient: send again after a backoff
	deadLetter                // the document can never be indexed as it is
)

func classify(status int) verdict {
	switch {
	case status >= 200 && status < 300, status == 409:
		return delivered
	case status == 429, status >= 500, status == 401, status == 403, status == 404, status == 408:
		// Overload and server faults pass; so may missing privileges or a
		// missing data stream once an operator fixes them. Never drop.
		return retry
	default:
		return deadLetter
	}
}

// errorsFalse reports whether a filtered bulk response says "errors":false,
// which lets the common case skip decoding the items.
func errorsFalse(body []byte) bool {
	head := body
	if len(head) > 64 {
		head = head[:64]
	}
	i := bytes.Index(head, []byte(`"errors"`))
	if i < 0 {
		return false
	}
	rest := bytes.TrimLeft(head[i+len(`"errors"`):], " \t\r\n:")
	return bytes.HasPrefix(rest, []byte("false"))
}

// parseItems decodes the per-item results of a bulk response with n items.
func parseItems(body []byte, n int) ([]itemResult, error) {
	var resp struct {
		Errors bool `json:"errors"`
		Items  []struct {
			Create *itemResult `json:"create"`
			Index  *itemResult `json:"index"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("cannot decode bulk response: %w", err)
	}
	if len(resp.Items) != n {
		return nil, fmt.Errorf("bulk response has %d items for %d actions", len(resp.Items), n)
	}
	out := make([]itemResult, n)
	for i, it := range resp.Items {
		switch {
		case it.Create != nil:
			out[i] = *it.Create
		case it.Index != nil:
			out[i] = *it.Index
		default:
			return nil, fmt.Errorf("bulk response item %d has no create result", i)
		}
	}
	return out, nil
}

// parseStatuses decodes only the status of each item of a bulk response
// with n items: no error strings, no allocation per item. Most answers with
// errors are retries (429, 503 per item), whose reasons nobody reads; a
// response of 20,000 such items decoded in full held several MiB per worker
// while catching up. parseItems is for rounds with documents to
// dead-letter, which need the reasons.
func parseStatuses(body []byte, n int) ([]itemResult, error) {
	type status struct {
		Status int `json:"status"`
	}
	var resp struct {
		Items []struct {
			Create status `json:"create"`
			Index  status `json:"index"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("cannot decode bulk response: %w", err)
	}
	if len(resp.Items) != n {
		return nil, fmt.Errorf("bulk response has %d items for %d actions", len(resp.Items), n)
	}
	out := make([]itemResult, n)
	for i, it := range resp.Items {
		switch {
		case it.Create.Status != 0:
			out[i].Status = it.Create.Status
		case it.Index.Status != 0:
			out[i].Status = it.Index.Status
		default:
			return nil, fmt.Errorf("bulk response item %d has no create result", i)
		}
	}
	return out, nil
}
