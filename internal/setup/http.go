package setup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"shipper/internal/backoff"
	"shipper/internal/esclient"
)

// maxResponseBytes bounds how much of an answer is read.
const maxResponseBytes = 8 << 20

// service is Elasticsearch or Kibana: where it is and how to talk to it.
type service struct {
	name       string // "Elasticsearch" or "Kibana", for messages
	base       string // URL without a trailing slash
	urlSetting string // the flag / variable that sets base, for messages
	skip       string // the option that leaves this service out, for messages
	cfg        Config
	client     *esclient.Client
	log        zerolog.Logger

	timeout time.Duration // of the whole setup, for messages

	// Backoff between retries: from initial, doubling, capped at max,
	// jittered; 0 means 500ms and 8s. Tests shorten them.
	initial, max time.Duration
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request with credentials and the extra headers, and returns
// the answer. Connection failures and the answers of retryable are retried
// with exponential, jittered backoff (honouring Retry-After) while the
// deadline of ctx leaves time; then the last failure is returned, phrased
// for an operator. Any other answer, error statuses included, is returned
// as is for the caller to judge. body may be nil; it is resent as is.
func (s *service) do(ctx context.Context, method, path, contentType string, body []byte, extra http.Header) (*response, error) {
	initial, maxWait := s.initial, s.max
	if initial <= 0 {
		initial = 500 * time.Millisecond
	}
	if maxWait <= 0 {
		maxWait = 8 * time.Second
	}
	bo := backoff.Backoff{Initial: initial, Max: maxWait, MaxRetryAfter: 30 * time.Second}
	for attempt := 1; ; attempt++ {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, path, rd)
		if err != nil {
			return nil, fmt.Errorf("cannot build the request %s %s%s: %w", method, s.base, path, err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for k, vs := range extra {
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}

		var lastErr error
		var retryAfter time.Duration
		res, err := s.client.Do(req)
		if err != nil {
			lastErr = s.unreachable(err)
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s at %s did not answer %s %s in time (setup timeout %s): %w",
					s.name, s.base, method, path, s.timeout, context.Cause(ctx))
			}
			if esclient.Permanent(err) {
				return nil, lastErr
			}
		} else {
			b, rerr := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes))
			res.Body.Close()
			if rerr != nil {
				lastErr = fmt.Errorf("cannot read the answer of %s at %s to %s %s: %w", s.name, s.base, method, path, rerr)
			} else if !esclient.Retryable(res.StatusCode) {
				return &response{status: res.StatusCode, header: res.Header, body: b}, nil
			} else {
				lastErr = fmt.Errorf("%s at %s is not ready: it answered HTTP %d to %s %s: %s",
					s.name, s.base, res.StatusCode, method, path, excerpt(b))
				retryAfter = backoff.ParseRetryAfter(strings.TrimSpace(res.Header.Get("Retry-After")))
			}
		}

		d := bo.Failed(retryAfter)
		if dl, ok := ctx.Deadline(); ctx.Err() != nil || (ok && time.Until(dl) < d) {
			return nil, fmt.Errorf("%w (gave up after %d attempts within the setup timeout of %s)", lastErr, attempt, s.timeout)
		}
		s.log.Warn().Str("error.message", lastErr.Error()).Int("attempt", attempt).
			Msgf("%s is not ready; retrying in %s", s.name, d.Round(time.Millisecond))
		if backoff.Sleep(ctx, d) != nil {
			return nil, fmt.Errorf("%w (gave up after %d attempts: %v)", lastErr, attempt, context.Cause(ctx))
		}
	}
}

// unreachable phrases a transport error: what probably happened and which
// setting to check.
func (s *service) unreachable(err error) error {
	err = esclient.Unwrap(err) // the method and URL are already in the message
	msg := fmt.Sprintf("cannot reach %s at %s: %v: %s", s.name, s.base, err, esclient.Hint(err, s.urlSetting))
	if s.skip != "" && !esclient.Permanent(err) {
		msg += fmt.Sprintf("; if there is no %s to set up, run setup with %s", s.name, s.skip)
	}
	return errors.New(msg)
}

// authError phrases a 401 or 403 answer to what (e.g. "install the index
// templates").
func (s *service) authError(res *response, what string) error {
	reason := s.reason(res.body)
	if res.status == http.StatusUnauthorized {
		if s.cfg.APIKey == "" && s.cfg.Username == "" {
			return fmt.Errorf("%s at %s requires credentials to %s (HTTP 401: %s): set --elasticsearch-username and --elasticsearch-password, or --elasticsearch-api-key",
				s.name, s.base, what, reason)
		}
		return fmt.Errorf("%s at %s refused the credentials (HTTP 401: %s): check --elasticsearch-username / --elasticsearch-password or --elasticsearch-api-key",
			s.name, s.base, reason)
	}
	need := "the manage_index_templates cluster privilege"
	if s.name == "Kibana" {
		need = "the Saved Objects Management privilege in the target space (e.g. the kibana_admin role)"
	}
	return fmt.Errorf("%s at %s: the user may not %s (HTTP 403: %s): grant it %s", s.name, s.base, what, reason, need)
}

// reason extracts the human part of an error answer: Elasticsearch's
// error.type and error.reason, Kibana's message, else an excerpt.
func (s *service) reason(body []byte) string {
	var es struct {
		Error *struct {
			Type     string `json:"type"`
			Reason   string `json:"reason"`
			CausedBy *struct {
				Reason string `json:"reason"`
			} `json:"caused_by"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &es) == nil && es.Error != nil && es.Error.Reason != "" {
		r := es.Error.Type + ": " + es.Error.Reason
		if es.Error.CausedBy != nil && es.Error.CausedBy.Reason != "" && !strings.Contains(es.Error.Reason, es.Error.CausedBy.Reason) {
			r += " (caused by: " + es.Error.CausedBy.Reason + ")"
		}
		return oneLine(r)
	}
	var kb struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &kb) == nil && kb.Message != "" {
		if kb.Error != "" {
			return oneLine(kb.Error + ": " + kb.Message)
		}
		return oneLine(kb.Message)
	}
	return excerpt(body)
}

// oneLine collapses runs of white space, newlines included.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// excerpt returns at most 300 bytes of b on one line.
func excerpt(b []byte) string {
	s := oneLine(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}
