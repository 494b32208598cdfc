package forward

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"shipper/internal/pipeline"
)

// fuzzServer is one server and pipeline shared by the inputs of a fuzz run;
// each input gets a connection of its own.
type fuzzServer struct {
	srv     *Server
	mu      sync.Mutex
	invalid []string // documents that are not valid JSON, or bad actions
}

var (
	fuzzSrvOnce sync.Once
	fuzzSrv     *fuzzServer
	fuzzSrvErr  error
)

func getFuzzServer() (*fuzzServer, error) {
	fuzzSrvOnce.Do(func() {
		pipe := pipeline.New(pipeline.Config{MaxBytes: 8 << 20, BatchBytes: 64 << 10, FlushInterval: time.Hour})
		fs := &fuzzServer{}
		go func() {
			for b := range pipe.Batches() {
				for i := range b.Items {
					var action map[string]map[string]string
					if err := json.Unmarshal(b.Action(i), &action); err != nil || len(action["create"]["_id"]) != 22 {
						fs.mu.Lock()
						fs.invalid = append(fs.invalid, "action "+string(b.Action(i)))
						fs.mu.Unlock()
					}
					if !json.Valid(b.Document(i)) {
						fs.mu.Lock()
						fs.invalid = append(fs.invalid, "document "+string(b.Document(i)))
						fs.mu.Unlock()
					}
				}
				b.Done()
			}
		}()
		fs.srv, fuzzSrvErr = NewServer(ServerConfig{Address: "127.0.0.1:0", Dataset: "fuzz", Namespace: "default",
			DatasetFromTag: true, MaxLineBytes: 4096, Limits: fuzzLimits}, pipe, testLogger())
		fuzzSrv = fs
	})
	return fuzzSrv, fuzzSrvErr
}

// FuzzServerStream feeds a connection's byte stream, in two reads, through
// the server's request handling into real batches: it never panics, ends
// every problem with a classified close, and every bulk item it writes is
// valid JSON with a well-formed action.
func FuzzServerStream(f *testing.F) {
	for _, c := range decodeCases() {
		f.Add(c.in, uint16(len(c.in)/2))
	}
	for _, c := range jsonCases() {
		f.Add(c.in, uint16(1))
	}
	piece := func(log, ordinal, last string) menc {
		return msg("docker", t0, mp().mapStr("container_id", "c", "source", "stdout", "log", log, "partial_message", "true",
			"partial_id", "p", "partial_ordinal", ordinal, "partial_last", last, "com.x", "label"), mp().mapStr("chunk", "k"+ordinal))
	}
	f.Add([]byte(append(piece(`{"a":`, "1", "false"), piece(`1}`, "2", "true")...)), uint16(10))
	f.Add([]byte(msg("docker", t0, mp().mapH(3).str("log").str(`{"level":"info"}`).str("x").ext(9, []byte{1}).int(1).int(2), nil)), uint16(3))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		fs, err := getFuzzServer()
		if err != nil {
			t.Fatal(err)
		}
		s := fs.srv
		ours, theirs := net.Pipe()
		go func() { _, _ = io.Copy(io.Discard, theirs) }()
		c := s.newConn(ours)
		c.queueCtx = context.Background()
		s.register(c)
		s.serving.Add(1)
		cut := min(int(split), len(data))
		var perr error
		for _, part := range [][]byte{data[:cut], data[cut:]} {
			// Feed through the connection's own buffers, as read does.
			for len(part) > 0 && perr == nil {
				if perr = c.grow(context.Background()); perr != nil {
					break
				}
				n := copy(c.buf[c.w:], part)
				c.w += n
				part = part[n:]
				perr = c.process()
			}
		}
		if ferr := c.flushJoiner(0, true); perr == nil {
			perr = ferr
		}
		var ce *closeError
		if perr != nil && !errors.As(perr, &ce) {
			t.Fatalf("unclassified error %v", perr)
		}
		_ = s.pr.Flush()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.pr.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		c.acks.finish()
		if c.writerOn {
			c.close()
			<-c.writerDone
		}
		c.close()
		theirs.Close()
		s.unregister(c)
		c.join.discard()
		c.dec.release()
		c.releaseBuf()
		s.serving.Done()
		if used := s.budget.stats().used; used != 0 {
			t.Fatalf("buffer budget in use after the connection ended: %d bytes", used)
		}
		fs.mu.Lock()
		bad := fs.invalid
		fs.invalid = nil
		fs.mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("invalid bulk items from %x: %q", data, bad)
		}
	})
}

// FuzzParsePing: the handshake parser never panics and accepts only arrays
// of strings starting with "PING".
func FuzzParsePing(f *testing.F) {
	f.Add([]byte(mp().arr(6).str("PING").str("h").str("s").str("d").str("u").str("p")))
	f.Add([]byte(mp().arr(4).str("PING").bin([]byte("h")).str("s").str("d")))
	f.Add([]byte(mp().arr(6).str("PING").int(1).str("s").str("d").str("u").str("p")))
	f.Fuzz(func(t *testing.T, data []byte) {
		var fr frame
		n, err := fr.scan(data, maxPingBytes)
		if err != nil {
			return
		}
		p, err := parsePing(data[:n])
		if err == nil && (data[0] != 0x96 && data[0] != 0x94 && data[0] != 0xdc && data[0] != 0xdd) {
			t.Fatalf("accepted %x as PING: %+v", data, p)
		}
	})
}
