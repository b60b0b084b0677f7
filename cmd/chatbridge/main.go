// Command chatbridge bridges website live chat into Slack, Matrix and a
// built-in operator inbox. See README.md.
package main

import "os"

func main() {
	os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
}
