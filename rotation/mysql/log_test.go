package mysql_test

import (
	"io"
	"log/slog"
)

// slogTo returns a JSON logger writing to w.
func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }
