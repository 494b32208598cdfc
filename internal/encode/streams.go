package encode

import (
	"strings"
	"sync"
	"sync/atomic"
)

// DefaultMaxDatasets is the default cap on the datasets records may choose.
const DefaultMaxDatasets = 50

// Streams decides which datasets a record may send itself to with its own
// "data_stream.dataset": any record can name one, and each new name creates
// a data stream (indices, shards, mappings) in Elasticsearch, so the names
// are limited. One Streams is shared by every source of a process: the cap
// counts distinct datasets across all of them. Safe for concurrent use.
//
// A record whose dataset is refused goes to the source's default data
// stream, flagged with "labels.dataset_rejected" holding the dataset it
// asked for.
type Streams struct {
	allow []string // exact names, or prefixes when ending in '*'; empty: any
	max   int      // distinct datasets admitted at most

	mu       sync.Mutex
	admitted map[string]struct{}
	rejected atomic.Uint64
}

// NewStreams returns a Streams admitting the datasets that match allow
// (exact names, or prefixes written "name*"; none: every valid name), at
// most max distinct ones (max <= 0: records never choose their dataset).
func NewStreams(allow []string, max int) *Streams {
	return &Streams{allow: allow, max: max, admitted: make(map[string]struct{})}
}

// Admit reports whether a record may go to dataset ds (already sanitized).
func (s *Streams) Admit(ds string) bool {
	if s == nil {
		return true
	}
	if !s.allowed(ds) {
		s.rejected.Add(1)
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.admitted[ds]; ok {
		return true
	}
	if len(s.admitted) >= s.max {
		s.rejected.Add(1)
		return false
	}
	s.admitted[ds] = struct{}{}
	return true
}

func (s *Streams) allowed(ds string) bool {
	if len(s.allow) == 0 {
		return true
	}
	for _, a := range s.allow {
		if p, ok := strings.CutSuffix(a, "*"); ok && strings.HasPrefix(ds, p) || a == ds {
			return true
		}
	}
	return false
}

// Rejected counts the records sent to their default data stream because
// their dataset was refused.
func (s *Streams) Rejected() uint64 {
	if s == nil {
		return 0
	}
	return s.rejected.Load()
}

// Datasets returns how many distinct datasets records were admitted to.
func (s *Streams) Datasets() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.admitted)
}
