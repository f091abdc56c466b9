// Command faultcost measures what the machine charges for the kernel work
// under keygate's miss path: a page fault on fresh anonymous memory (a
// growing Go heap), a fault on a page of a mapped file already in the page
// cache (SQLite's mapped reads), reading that page with pread(2) instead,
// and a trivial system call. On a virtual machine that shadows page tables
// a fault costs far more than on bare metal, and that decides which of
// mapping and reading pays (docs/benchmarks.md, "Miss path").
//
//	go run ./scripts/bench/faultcost [-mib 64] [FILE]
//
// FILE (default: a temporary file of -mib MiB) is read through once first,
// so that its pages are in the page cache and only the mapping is measured.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

const page = 4096

// stride skips pages between touches, so that the kernel's fault-around
// (which maps up to 16 cached neighbours on one fault) does not hide the
// faults being counted.
const stride = 17

func main() {
	mib := flag.Int("mib", 64, "size of the anonymous mapping, and of the temporary file when none is given")
	flag.Parse()
	path := flag.Arg(0)
	if path == "" {
		f, err := os.CreateTemp("", "faultcost")
		check(err)
		defer os.Remove(f.Name())
		check(f.Truncate(int64(*mib) << 20))
		buf := make([]byte, 1<<20)
		for i := range buf {
			buf[i] = byte(i)
		}
		for range *mib {
			_, err := f.Write(buf)
			check(err)
		}
		check(f.Close())
		path = f.Name()
	}
	f, err := os.Open(path)
	check(err)
	defer f.Close()
	st, err := f.Stat()
	check(err)
	size := int(st.Size())
	_, err = io.Copy(io.Discard, f) // into the page cache
	check(err)

	for range 3 {
		n := *mib << 20
		b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		check(err)
		start := time.Now()
		for i := 0; i < n; i += page {
			b[i] = 1
		}
		report("anonymous page, first touch", time.Since(start), n/page)
		check(syscall.Munmap(b))

		m, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
		check(err)
		sum := 0
		start = time.Now()
		for i := 0; i < size; i += page * stride {
			sum += int(m[i])
		}
		report("mapped file page, first touch", time.Since(start), size/page/stride)
		check(syscall.Munmap(m))

		buf := make([]byte, page)
		start = time.Now()
		for off := 0; off+page <= size; off += page * stride {
			_, err := syscall.Pread(int(f.Fd()), buf, int64(off))
			check(err)
		}
		report("pread of a cached page", time.Since(start), size/page/stride)

		start = time.Now()
		const calls = 100_000
		for range calls {
			syscall.Getppid()
		}
		report("getppid(2)", time.Since(start), calls)
		if sum == -1 {
			fmt.Println() // keeps the reads of the mapping
		}
	}
}

func report(what string, d time.Duration, n int) {
	fmt.Printf("%-32s %8.2f µs\n", what, float64(d.Nanoseconds())/1000/float64(max(n, 1)))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "faultcost:", err)
		os.Exit(1)
	}
}
