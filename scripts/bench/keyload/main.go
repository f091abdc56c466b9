// Command keyload measures key-auth with many keys: seed creates keys
// through the store directly (far faster than the admin API), run sends
// requests through the gateway, each with the next key of a file, so that
// the miss path for keys the node has not seen yet can be measured against
// the cached path (one key, or keys already seen) with the same tool.
//
//	keyload seed -data-dir DIR | -store postgres://... [-store-schema S] -root-key-file F -consumer NAME -n 200000 -out keys.txt
//	keyload run -url http://127.0.0.1:8000/bench -keys keys.txt -c 64 -d 10s [-cycle] [-series out.csv]
//	keyload run -url URL1,URL2 -ready /.keygate/ready ... (as a load balancer: only to nodes that say they are ready)
//
// With -ready, run reports for each node that went away and came back the
// p99 of its first -after (10 s) after it reported ready again against the
// steady p99 before it went away.
//
// Only for 127.0.0.1: run refuses any other host, and stops after -d.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
	"github.com/keygate/keygate/keyring"
	"github.com/keygate/keygate/postgres"
	"github.com/keygate/keygate/sqlite"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: keyload seed|run [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "seed":
		err = seed(os.Args[2:])
	case "run":
		err = run(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyload:", err)
		os.Exit(1)
	}
}

// seed creates n keys for one consumer and writes them, one a line, to out.
func seed(args []string) error {
	fs := flag.NewFlagSet("seed", flag.ExitOnError)
	dataDir := fs.String("data-dir", "", "keygate's data dir (SQLite)")
	store := fs.String("store", "", "postgres:// URL instead of the SQLite file")
	schema := fs.String("store-schema", "", "PostgreSQL schema")
	rootKeyFile := fs.String("root-key-file", "", "keygate's root key file")
	consumer := fs.String("consumer", "bench", "the keys' consumer (username or id)")
	prefix := fs.String("key-prefix", "kg_live", "key prefix")
	n := fs.Int("n", 200_000, "how many keys")
	workers := fs.Int("workers", 8, "concurrent writers (PostgreSQL; SQLite serialises them anyway)")
	out := fs.String("out", "keys.txt", "file to write the keys to")
	fs.Parse(args)

	ctx := context.Background()
	var db keygate.Store
	var err error
	switch {
	case *store != "":
		db, err = postgres.Open(ctx, *store, postgres.Options{Schema: *schema})
	case *dataDir != "":
		db, err = sqlite.Open(ctx, filepath.Join(*dataDir, "keygate.db"), sqlite.Options{})
	default:
		return errors.New("-data-dir or -store: required")
	}
	if err != nil {
		return err
	}
	defer db.Close()
	raw, err := keyring.ReadRootKeyFile(*rootKeyFile)
	if err != nil {
		return err
	}
	root, err := keyring.NewLocalRootKey(raw)
	if err != nil {
		return err
	}
	ring, err := keyring.Init(ctx, root, db)
	if err != nil {
		return err
	}
	sealed, err := db.GetSecret(ctx, "pepper", "apikey")
	if err != nil {
		return fmt.Errorf("pepper (start keygate once on this store first): %w", err)
	}
	pepper, err := ring.Open(sealed)
	if err != nil {
		return err
	}
	hasher, err := apikey.NewHasher(pepper)
	if err != nil {
		return err
	}
	format, err := apikey.NewFormat(*prefix)
	if err != nil {
		return err
	}
	c, err := db.FindConsumer(ctx, *consumer)
	if err != nil {
		return fmt.Errorf("consumer %q: %w", *consumer, err)
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, *workers)
	start := time.Now()
	for range *workers {
		wg.Go(func() {
			for next.Add(1) <= int64(*n) {
				k, err := format.Generate()
				if err != nil {
					errs <- err
					return
				}
				sum := hasher.Hash(k)
				key := &keygate.APIKey{Consumer: keygate.Ref{ID: c.ID}, Name: "keyload", Prefix: k.Prefix(), Start: k.Start(),
					Identifier: k.Identifier(), SecretHash: sum[:], Status: keygate.KeyActive}
				if err := db.CreateKey(ctx, key); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				w.WriteString(k.Reveal() + "\n")
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "keyload: %d keys in %s\n", *n, time.Since(start).Round(time.Millisecond))
	return f.Close()
}

// sample is one request: when it ended (since the start), how long it
// took, and which target answered.
type sample struct {
	end, took time.Duration
	status    int
	target    int
}

// target is one node, as a load balancer sees it.
type target struct {
	url    string
	client *fasthttp.HostClient
	ready  atomic.Bool
	// transitions: when it became ready (true) or stopped being (false).
	mu          sync.Mutex
	transitions []transition
}

type transition struct {
	at    time.Duration
	ready bool
}

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	urls := fs.String("url", "", "gateway URL (127.0.0.1 only); several, comma-separated, are balanced round-robin")
	readyPath := fs.String("ready", "", "readiness path polled every 50 ms: requests go only to ready targets (empty: all, always)")
	after := fs.Duration("after", 10*time.Second, "with -ready: the window after a node is ready again that is compared with the steady state")
	keysFile := fs.String("keys", "", "file of keys, one a line")
	skip := fs.Int("skip", 0, "start at this line of the keys file")
	count := fs.Int("count", 0, "use only this many keys from there (0: all)")
	conns := fs.Int("c", 64, "connections")
	dur := fs.Duration("d", 10*time.Second, "duration")
	cycle := fs.Bool("cycle", false, "start the keys over when they run out (otherwise stop)")
	header := fs.String("header", "apikey", "header that carries the key")
	series := fs.String("series", "", "write every request (end ms, latency µs, status) to this CSV file")
	label := fs.String("label", "", "label of the result line")
	fs.Parse(args)

	var targets []*target
	for _, raw := range strings.Split(*urls, ",") {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "http" {
			return errors.New("-url: an http:// URL is required")
		}
		if host, _, _ := net.SplitHostPort(u.Host); host != "127.0.0.1" && host != "localhost" {
			return errors.New("-url: only 127.0.0.1 is allowed")
		}
		t := &target{url: raw, client: &fasthttp.HostClient{Addr: u.Host, MaxConns: *conns, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}}
		t.ready.Store(*readyPath == "")
		targets = append(targets, t)
	}
	keys, err := readKeys(*keysFile)
	if err != nil {
		return err
	}
	if *skip >= len(keys) {
		return fmt.Errorf("-skip %d: the file has %d keys", *skip, len(keys))
	}
	keys = keys[*skip:]
	if *count > 0 && *count < len(keys) {
		keys = keys[:*count]
	}
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	var next, turn atomic.Int64
	results := make([][]sample, *conns)
	start := time.Now()
	var wg sync.WaitGroup
	if *readyPath != "" {
		for _, t := range targets {
			poll(t, *readyPath, start) // before the first request
			wg.Go(func() {
				tick := time.NewTicker(50 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
						poll(t, *readyPath, start)
					}
				}
			})
		}
	}
	for w := range *conns {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			var out []sample
			for ctx.Err() == nil {
				ti := pick(targets, &turn)
				if ti < 0 {
					time.Sleep(time.Millisecond) // no node ready
					continue
				}
				req.SetRequestURI(targets[ti].url)
				i := int(next.Add(1) - 1)
				if i >= len(keys) {
					if !*cycle {
						break
					}
					i %= len(keys)
				}
				req.Header.Set(*header, keys[i])
				t0 := time.Now()
				status := 0
				if err := targets[ti].client.DoTimeout(req, resp, 10*time.Second); err == nil {
					status = resp.StatusCode()
				} else if *readyPath != "" && !errors.Is(err, fasthttp.ErrTimeout) {
					targets[ti].set(false, start) // refused: gone, until it says it is ready
				}
				t1 := time.Now()
				out = append(out, sample{end: t1.Sub(start), took: t1.Sub(t0), status: status, target: ti})
			}
			results[w] = out
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []sample
	for _, r := range results {
		all = append(all, r...)
	}
	if *series != "" {
		if err := writeSeries(*series, all); err != nil {
			return err
		}
	}
	lat := make([]time.Duration, 0, len(all))
	bad := 0
	for _, s := range all {
		lat = append(lat, s.took)
		if s.status != 200 {
			bad++
		}
	}
	slices.Sort(lat)
	rps := float64(len(all)) / elapsed.Seconds()
	fmt.Printf("%-28s requests %8d  requests/s %8.0f  p50 %7.2f ms  p99 %8.2f ms  max %8.2f ms  non-200 %d  keys used %d\n",
		*label, len(all), rps, ms(pct(lat, 0.50)), ms(pct(lat, 0.99)), ms(pct(lat, 1)), bad, min(int(next.Load()), len(keys)))
	if len(all) > 0 && int(next.Load()) >= len(keys) && !*cycle {
		fmt.Fprintln(os.Stderr, "keyload: ran out of keys before the end: use more keys or a shorter -d")
	}
	if *readyPath != "" {
		restarts(targets, all, *after)
	}
	return nil
}

// poll asks t whether it is ready and records a change.
func poll(t *target, path string, start time.Time) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	u, _ := url.Parse(t.url)
	req.SetRequestURI("http://" + u.Host + path)
	err := t.client.DoTimeout(req, resp, time.Second)
	if errors.Is(err, fasthttp.ErrTimeout) {
		return // a slow answer says nothing: keep what is known
	}
	t.set(err == nil && resp.StatusCode() == 200, start)
}

// set records whether t is ready, and when that changed.
func (t *target) set(ready bool, start time.Time) {
	if t.ready.Swap(ready) != ready {
		t.mu.Lock()
		t.transitions = append(t.transitions, transition{time.Since(start), ready})
		t.mu.Unlock()
	}
}

// pick returns the next ready target, round-robin, or -1.
func pick(targets []*target, turn *atomic.Int64) int {
	n := int(turn.Add(1))
	for i := range targets {
		ti := (n + i) % len(targets)
		if targets[ti].ready.Load() {
			return ti
		}
	}
	return -1
}

// restarts reports, for each target that stopped being ready and became
// ready again, the p99 of its first window after that against the steady
// p99 of all targets before it stopped.
func restarts(targets []*target, all []sample, window time.Duration) {
	for ti, t := range targets {
		// The longest time it was away: the restart, not a blip.
		var down, up time.Duration = -1, -1
		for i, tr := range t.transitions {
			if tr.ready || i+1 >= len(t.transitions) {
				continue
			}
			if back := t.transitions[i+1].at; back-tr.at > up-down {
				down, up = tr.at, back
			}
		}
		if down < 0 || up < 0 {
			continue
		}
		var steady, first []time.Duration
		for _, s := range all {
			switch {
			case s.status == 0:
			case s.end < down && s.end >= down/2: // the second half before: caches hot
				steady = append(steady, s.took)
			case s.target == ti && s.end >= up && s.end < up+window:
				first = append(first, s.took)
			}
		}
		slices.Sort(steady)
		slices.Sort(first)
		sp, fp := pct(steady, 0.99), pct(first, 0.99)
		fmt.Printf("target %d (%s): not ready at %.1f s, ready again at %.1f s (%.1f s later)\n", ti, t.url, down.Seconds(), up.Seconds(), (up - down).Seconds())
		fmt.Printf("  steady (%.1f-%.1f s, all targets): %d requests, p50 %.2f ms, p99 %.2f ms\n", (down / 2).Seconds(), down.Seconds(), len(steady), ms(pct(steady, 0.5)), ms(sp))
		fmt.Printf("  first %s after ready (this target): %d requests, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", window, len(first), ms(pct(first, 0.5)), ms(fp), ms(pct(first, 1)))
		if sp > 0 {
			fmt.Printf("  p99 after / steady = %.2f\n", float64(fp)/float64(sp))
		}
	}
}

func readKeys(file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var keys []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			keys = append(keys, line)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no keys", file)
	}
	return keys, sc.Err()
}

func writeSeries(file string, all []sample) error {
	slices.SortFunc(all, func(a, b sample) int { return int(a.end - b.end) })
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, s := range all {
		fmt.Fprintf(w, "%d,%d,%d,%d\n", s.end.Milliseconds(), s.took.Microseconds(), s.status, s.target)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
