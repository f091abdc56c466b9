package sqlstore

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Migration is one file of an engine's schema, NNNN_what.sql. Each engine
// keeps its own files, with the same versions: released files are never
// edited, a change is a new file in each.
type Migration struct {
	Version int
	Name    string // the path in the file system
}

// ReadMigrations returns the migrations under migrations/ in fsys, in order.
func ReadMigrations(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	var ms []Migration
	for _, name := range names {
		num, _, _ := strings.Cut(path.Base(name), "_")
		v, err := strconv.Atoi(num)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("store: migration %s: name must start with a version number", name)
		}
		ms = append(ms, Migration{Version: v, Name: name})
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("store: no migrations")
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("store: migrations %s and %s have the same version", ms[i-1].Name, ms[i].Name)
		}
	}
	return ms, nil
}
