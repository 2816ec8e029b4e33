package export

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"sync"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/fetch"
)

// listing is one instance's snapshot listing, running in a goroutine of its
// own ahead of the instance's transaction. Pages are handed over one at a
// time through an unbuffered channel, so the listing fetches page k+1 only
// once page k was taken: at most one page waits, and memory stays flat.
type listing struct {
	pages  chan fetch.Page
	done   chan struct{}
	cancel context.CancelFunc
	stats  fetch.ListStats
	err    error
	digest hash.Hash // of the raw results, in order: see digestPage

	// last is the number of the last page fetched, and countedEnd whether
	// it was a full page that ended the listing on Atlas's count.
	last       int
	countedEnd bool
}

// digestVersion starts every listing digest. Change it whenever the same
// raw results would be stored differently (a new column decoded, a mapping
// changed): the stored digests then no longer match, and the next run
// merges every instance again.
const digestVersion = "atlas-snapshot-exporter listing digest 1"

// newDigest starts the digest of a listing of inst.
func newDigest(inst atlas.Instance) hash.Hash {
	h := sha256.New()
	h.Write([]byte(digestVersion + "\x00" + string(inst.Family) + "\x00"))

	return h
}

// digestPage adds one page to h: its number, its length, and each raw
// result with its length, so that no two listings share their input.
func digestPage(h hash.Hash, p fetch.Page) {
	var n [8]byte

	binary.BigEndian.PutUint64(n[:], uint64(p.Num))
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(len(p.Snapshots)))
	h.Write(n[:])

	for _, s := range p.Snapshots {
		binary.BigEndian.PutUint64(n[:], uint64(len(s.Raw)))
		h.Write(n[:])
		h.Write(s.Raw)
	}
}

// sum is the digest of the listing, or nil when it did not complete. Call
// it only after drain returned.
func (l *listing) sum() []byte {
	if l.err != nil {
		return nil
	}

	return l.digest.Sum(nil)
}

// startListing starts listing inst. The caller must drain or stop it.
func (e *Exporter) startListing(ctx context.Context, inst atlas.Instance) *listing {
	ctx, cancel := context.WithCancelCause(ctx)
	l := &listing{
		pages: make(chan fetch.Page), done: make(chan struct{}),
		cancel: func() { cancel(context.Canceled) }, digest: newDigest(inst),
	}

	go func() {
		defer close(l.done)
		defer close(l.pages)

		// A panic here would not reach guardedTransfer's recover: it fails
		// the listing, and with it only this target.
		defer func() {
			if p := recover(); p != nil {
				l.err = fmt.Errorf("panic: %v", p)
			}
		}()

		l.stats, l.err = e.client.ListSnapshots(ctx, inst, func(p fetch.Page) error {
			digestPage(l.digest, p)
			l.last, l.countedEnd = p.Num, p.CountedEnd

			select {
			case l.pages <- p:
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		})
	}()

	return l
}

// drain hands every page to stage in order and returns what the listing
// cost. A stage error stops the listing and is returned as is.
func (l *listing) drain(stage func(fetch.Page) error) (fetch.ListStats, error) {
	for p := range l.pages {
		if err := stage(p); err != nil {
			l.stop()

			return l.stats, err
		}
	}

	<-l.done

	return l.stats, l.err
}

// stop ends the listing and waits for its goroutine; it may be called at
// any time, more than once.
func (l *listing) stop() {
	l.cancel()

	// Discard what was already fetched: nobody will stage it.
	for range l.pages {
	}

	<-l.done
}

// worker exports instances one after another. As soon as an instance's
// listing has arrived whole, the next instance's listing starts, so that
// everything the database does for the first (staging, the removal checks,
// the merge, the commit) overlaps the second's requests instead of waiting
// in front of them. At most one listing request per worker is outstanding
// at any time; removal checks of the instance being merged (rare: a GET
// per snapshot gone) may add one more.
type worker struct {
	e         *Exporter
	ctx       context.Context
	runID     int64
	next      <-chan int
	instances []atlas.Instance
	results   []TargetResult
}

func (w *worker) run() {
	i, ok := <-w.next
	if !ok {
		return
	}

	l := w.e.startListing(w.ctx, w.instances[i])
	for {
		var (
			j      int
			more   bool
			nextL  *listing
			listed = sync.OnceFunc(func() {
				if j, more = <-w.next; more {
					nextL = w.e.startListing(w.ctx, w.instances[j])
				}
			})
		)

		w.results[i] = w.e.exportInstance(w.ctx, w.runID, w.instances[i], l, listed)
		listed()

		if !more {
			return
		}

		i, l = j, nextL
	}
}
