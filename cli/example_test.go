package cli_test

import (
	"fmt"

	"github.com/picloud/picloud/cli"
)

func ExampleParseSize() {
	for _, s := range []string{"64MiB", "128M", "1GiB", "64"} {
		n, err := cli.ParseSize(s)
		fmt.Println(n, err)
	}
	// Output:
	// 67108864 <nil>
	// 134217728 <nil>
	// 1073741824 <nil>
	// 0 invalid size "64": no unit: write 64MiB (or B, KiB, GiB)
}

func ExampleFormatSize() {
	fmt.Println(cli.FormatSize(64<<20), cli.FormatSize(3<<29))
	// Output: 64MiB 1.5GiB
}
