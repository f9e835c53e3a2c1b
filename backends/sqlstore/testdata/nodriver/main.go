// Command nodriver opens each DSN of its arguments with sqlstore.Open in a
// program that imports no database driver, and prints one line per DSN:
// whether the error matches authkit.ErrInvalidConfig, then the error.
// TestOpenWithoutDriver runs it.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
)

func main() {
	for _, dsn := range os.Args[1:] {
		_, err := sqlstore.Open(context.Background(), dsn)
		fmt.Printf("%v\t%v\n", errors.Is(err, authkit.ErrInvalidConfig), err)
	}
}
