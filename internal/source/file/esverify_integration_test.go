//go:build integration

package file

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"shipper/internal/testutil/estest"
)

// seqBucket is the width of the seq histogram buckets counted per file.
const seqBucket = 1000

// esVerdicts counts, per file, the documents in index whose "file" field is
// the file's name, by their "seq" field, without fetching documents: a terms
// aggregation on file, a histogram of seq in buckets of seqBucket, and for a
// bucket whose count is not what was written, a terms aggregation on its seq
// values (exact missing and duplicated numbers). Out-of-order is counted
// between consecutive buckets: the first event.ingested of a bucket earlier
// than the last of the bucket before (lines of a file are read in order, so
// a later line is never ingested before an earlier one; the times have
// millisecond precision in aggregations).
func esVerdicts(t *testing.T, index string, files []*stressFile) (out []verdict, missing, dups, ooo int) {
	t.Helper()
	estest.Refresh(t, index)
	body := fmt.Sprintf(`{"size":0,"aggs":{"f":{"terms":{"field":"file","size":1000},"aggs":{
		"h":{"histogram":{"field":"seq","interval":%d,"min_doc_count":1},
		     "aggs":{"lo":{"min":{"field":"event.ingested"}},"hi":{"max":{"field":"event.ingested"}}}}}}}}`, seqBucket)
	b := estest.MustDo(t, http.MethodPost, "/"+url.PathEscape(index)+"/_search", body)
	var r struct {
		Aggregations struct {
			F struct {
				Buckets []struct {
					Key      string `json:"key"`
					DocCount int    `json:"doc_count"`
					H        struct {
						Buckets []struct {
							Key      float64 `json:"key"`
							DocCount int     `json:"doc_count"`
							Lo       struct {
								Value float64 `json:"value"`
							} `json:"lo"`
							Hi struct {
								Value float64 `json:"value"`
							} `json:"hi"`
						} `json:"buckets"`
					} `json:"h"`
				} `json:"buckets"`
			} `json:"f"`
		} `json:"aggregations"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("aggregation response: %v: %.500s", err, b)
	}
	type bucket struct {
		count  int
		lo, hi float64
	}
	byFile := make(map[string]map[int]bucket)
	for _, fb := range r.Aggregations.F.Buckets {
		m := make(map[int]bucket)
		for _, hb := range fb.H.Buckets {
			m[int(hb.Key)/seqBucket] = bucket{hb.DocCount, hb.Lo.Value, hb.Hi.Value}
		}
		byFile[fb.Key] = m
	}
	for _, f := range files {
		written := int(f.written.Load())
		v := verdict{file: f.name, written: written, rotations: f.rotations.Load()}
		buckets := byFile[f.name]
		last := written / seqBucket
		for k := range buckets {
			if k > last {
				last = k
			}
		}
		prevHi := 0.0
		for k := 0; k <= last; k++ {
			lo, hi := max(1, k*seqBucket), min(written, k*seqBucket+seqBucket-1)
			want := max(0, hi-lo+1)
			got := buckets[k]
			v.got += got.count
			if got.count != want {
				m, d, first := seqDetail(t, index, f.name, k*seqBucket, k*seqBucket+seqBucket-1, written)
				v.missing += m
				v.duplicated += d
				for _, s := range first {
					if len(v.firstMissing) < 5 {
						v.firstMissing = append(v.firstMissing, s)
					}
				}
			}
			if got.count > 0 {
				if prevHi > 0 && got.lo < prevHi {
					v.outOfOrder++
				}
				prevHi = got.hi
			}
		}
		missing += v.missing
		dups += v.duplicated
		ooo += v.outOfOrder
		out = append(out, v)
	}
	return out, missing, dups, ooo
}

// seqDetail counts exactly, for seq values in [from, to] of file, the
// numbers never indexed (up to written) and the extra copies.
func seqDetail(t *testing.T, index, file string, from, to, written int) (missing, dups int, firstMissing []int) {
	t.Helper()
	body := fmt.Sprintf(`{"size":0,"query":{"bool":{"filter":[{"term":{"file":%q}},{"range":{"seq":{"gte":%d,"lte":%d}}}]}},
		"aggs":{"s":{"terms":{"field":"seq","size":%d}}}}`, file, from, to, 2*seqBucket)
	b := estest.MustDo(t, http.MethodPost, "/"+url.PathEscape(index)+"/_search", body)
	var r struct {
		Aggregations struct {
			S struct {
				Buckets []struct {
					Key      float64 `json:"key"`
					DocCount int     `json:"doc_count"`
				} `json:"buckets"`
			} `json:"s"`
		} `json:"aggregations"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("seq terms: %v", err)
	}
	seen := make(map[int]int)
	for _, sb := range r.Aggregations.S.Buckets {
		seen[int(sb.Key)] = sb.DocCount
		if int(sb.Key) < 1 || int(sb.Key) > written {
			dups += sb.DocCount
		} else if sb.DocCount > 1 {
			dups += sb.DocCount - 1
		}
	}
	for s := max(1, from); s <= min(to, written); s++ {
		if seen[s] == 0 {
			missing++
			if len(firstMissing) < 5 {
				firstMissing = append(firstMissing, s)
			}
		}
	}
	return missing, dups, firstMissing
}
