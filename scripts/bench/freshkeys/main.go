// Command freshkeys prints well-formed API keys (valid checksum) that were
// never issued, one a line, for scripts/bench/flood.sh.
//
//	go run ./scripts/bench/freshkeys -prefix kg_live -n 100000 > fresh.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/keygate/keygate/apikey"
)

func main() {
	prefix := flag.String("prefix", "kg_live", "key prefix")
	n := flag.Int("n", 100_000, "how many keys")
	flag.Parse()
	format, err := apikey.NewFormat(*prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, "freshkeys:", err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	for range *n {
		k, err := format.Generate()
		if err != nil {
			fmt.Fprintln(os.Stderr, "freshkeys:", err)
			os.Exit(1)
		}
		fmt.Fprintln(w, k.Reveal())
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "freshkeys:", err)
		os.Exit(1)
	}
}
