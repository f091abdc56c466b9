package web

import (
	"embed"
	"errors"
	"io/fs"
	"net/http"
	"strings"
)

// The stylesheet both apps share, served beside each app's own files as
// base.css; an app's style.css holds only its own rules, after it.
//
//go:embed static/base.css
var shared embed.FS

// Static serves, under prefix, the files of own and base.css, cached for
// five minutes; a directory (a path ending in "/") is never listed but
// goes to notFound.
func Static(prefix string, own fs.FS, notFound http.Handler) http.Handler {
	base, _ := fs.Sub(shared, "static")
	files := http.StripPrefix(prefix, http.FileServerFS(overlay{own, base}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			notFound.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
	})
}

// overlay is the files of its file systems, the first that has a name
// winning.
type overlay []fs.FS

func (o overlay) Open(name string) (fs.File, error) {
	for _, f := range o {
		file, err := f.Open(name)
		if !errors.Is(err, fs.ErrNotExist) {
			return file, err
		}
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}
