package apikey_test

import (
	"fmt"

	"github.com/keygate/keygate/apikey"
)

func Example() {
	f, err := apikey.NewFormat("kg_live", "kg_old")
	if err != nil {
		panic(err)
	}
	k, err := f.Parse("kg_live_AbCdEfGhIjKl0123456789abcdefghijABCDEFGHIJxy_0lanVB")
	if err != nil {
		panic(err)
	}
	fmt.Println(k)
	fmt.Println(k.Identifier())

	_, err = f.Parse("kg_live_AbCdEfGhIjKl0123456789abcdefghijABCDEFGHIJxy_0lanVC")
	fmt.Println(err)
	// Output:
	// kg_live_AbCdEf…
	// AbCdEfGhIjKl
	// apikey: key checksum mismatch
}
