package keygate

import (
	"context"
	"io"
)

// ExportFormat is the version of the export format below.
const ExportFormat = 1

// Exporter writes a whole store, for `keygate backup`.
//
// The export format is JSON lines, the same for every store: an
// ExportHeader, then one ExportRow per row of every table (parents before
// children), then an ExportRow with End set. Column values are strings,
// integers, null, or base64 strings for binary columns. Key material in it
// is as the store holds it: hashed, wrapped or sealed; the backup file
// seals the export as a whole on top.
type Exporter interface {
	// Export writes the store to w from one consistent snapshot, taken while
	// it serves; progress, when not nil, hears rows done out of total.
	Export(ctx context.Context, w io.Writer, progress func(done, total int)) error
}

// ExportHeader opens an export.
type ExportHeader struct {
	Format        int `json:"keygate_export"`
	SchemaVersion int `json:"schema_version"`
	Rows          int `json:"rows"`
	// Tables are the tables the export holds, in the order it holds them,
	// with the rows of each as counted in the snapshot; a reader checks
	// them. Absent from exports written before it was added.
	Tables []ExportTable `json:"tables,omitempty"`
}

// ExportTable is one table of an export and its number of rows.
type ExportTable struct {
	Name string `json:"name"`
	Rows int    `json:"rows"`
}

// ExportRow is one row of one table, or, with End, the end of the export.
type ExportRow struct {
	Table  string         `json:"table,omitempty"`
	Values map[string]any `json:"values,omitempty"`
	End    bool           `json:"end,omitempty"`
}
