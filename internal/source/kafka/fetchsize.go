package kafka

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// recordCost is what the Kafka client holds per fetched record beside the
// record's bytes: a kgo.Record (160 bytes), its pointer in the partition's
// record list, and the headers a shipper's Kafka output adds (two of 40
// bytes).
const recordCost = 256

// batchOverhead is the header of a record batch on the wire, which the
// batch metrics leave out.
const batchOverhead = 61

// minFetchBytes is the least a fetch asks for, whatever the ratio, and what
// it asks for before the first batch is read: a response carries at least
// one whole batch anyway.
const minFetchBytes = 4 << 10

// maxPartitionBytes caps what one partition adds to a response.
const maxPartitionBytes = 1 << 20

// fetchSizer keeps what one fetch response costs once decoded within a
// limit (Config.FetchMaxBytes). Kafka's fetch.max.bytes counts a response
// as it is on the wire: record batches compressed as their producer wrote
// them. Once read, the client holds the response, the batches decompressed
// and a record struct per record (recordCost): for log lines of about 400
// bytes in snappy batches 5.6 times the wire size, for a shipper's
// documents (uncompressed) 1.4 times. The sizer measures that ratio on every batch read
// (OnFetchBatchRead) and asks Kafka for limit/ratio bytes per response, so
// the memory follows the setting, not the producers' compression.
//
// The first fetch asks for minFetchBytes; then the ratio rises at once
// when a batch decodes to more than measured so far and falls slowly. A
// response read before the ratio rose may exceed the limit by that rise,
// as may a single batch larger than the size asked (Kafka always returns a
// response's first batch whole).
//
// It is a kgo hook; its methods are safe for concurrent use.
type fetchSizer struct {
	limit int64
	cl    atomic.Pointer[kgo.Client]

	mu    sync.Mutex
	ratio float64 // decoded bytes per wire byte; 0: no batch read yet
	asked int32   // fetch.max.bytes in force

	// cur is the decoded size of the fetch response being read (the
	// client reads one at a time: MaxConcurrentFetches(1)); max the
	// largest seen.
	cur, max int64
}

func newFetchSizer(limit int) *fetchSizer {
	z := &fetchSizer{limit: int64(limit)}
	z.asked = z.size(0)
	return z
}

// size is the fetch.max.bytes that keeps a response of the given ratio
// within seven eighths of the limit: batches of one producer waver a few
// percent around the ratio measured.
func (z *fetchSizer) size(ratio float64) int32 {
	if ratio <= 0 {
		return int32(min(minFetchBytes, z.limit))
	}
	n := int64(float64(z.limit) * 7 / 8 / ratio)
	if n < minFetchBytes {
		n = minFetchBytes
	}
	if n > z.limit {
		n = z.limit
	}
	return int32(n)
}

// partitionBytes is fetch.max.partition.bytes for a fetch of n bytes.
func partitionBytes(n int32) int32 { return min(n, maxPartitionBytes) }

// decodedCost is what a batch costs the client once read: its bytes on
// the wire, its records decompressed unless they are not, and a record
// struct per record.
func decodedCost(m kgo.FetchBatchMetrics) (wire, decoded int64) {
	wire = int64(m.CompressedBytes) + batchOverhead
	decoded = wire + int64(m.NumRecords)*recordCost
	if m.CompressionType != 0 {
		decoded += int64(m.UncompressedBytes)
	}
	return wire, decoded
}

// observe takes a batch's metrics and returns the fetch size to ask for
// from now on, and whether it changed enough to tell the client.
func (z *fetchSizer) observe(m kgo.FetchBatchMetrics) (int32, bool) {
	wire, decoded := decodedCost(m)
	z.mu.Lock()
	defer z.mu.Unlock()
	z.cur += decoded
	z.max = max(z.max, z.cur)
	r := float64(decoded) / float64(wire)
	if r > z.ratio || z.ratio == 0 {
		z.ratio = r
	} else {
		z.ratio -= (z.ratio - r) / 16
	}
	n := z.size(z.ratio)
	// Any decrease keeps the bound; an increase is passed on once it
	// is worth an eighth (the client's setting is two atomic stores, but
	// the ratio wavers batch by batch).
	if n < z.asked || n-z.asked > z.asked/8 {
		z.asked = n
		return n, true
	}
	return z.asked, false
}

// stats returns the fetch size in force and the largest decoded response.
func (z *fetchSizer) stats() (asked int32, largest int64) {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.asked, z.max
}

// OnFetchBatchRead implements kgo.HookFetchBatchRead.
func (z *fetchSizer) OnFetchBatchRead(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.FetchBatchMetrics) {
	if n, changed := z.observe(m); changed {
		if cl := z.cl.Load(); cl != nil {
			cl.UpdateFetchMaxBytes(n, partitionBytes(n))
		}
	}
}

// OnBrokerRead implements kgo.HookBrokerRead: a fetch response was read;
// its batches follow.
func (z *fetchSizer) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key != fetchKey || err != nil {
		return
	}
	z.mu.Lock()
	z.cur = 0
	z.mu.Unlock()
}

var fetchKey = (&kmsg.FetchRequest{}).Key()
