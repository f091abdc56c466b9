package adminapi

import (
	_ "embed"
	"net/http"
)

// openAPIDocument describes the whole admin API (OpenAPI 3.1). It is
// generated from the route table and the request and response types by
// TestOpenAPIDocument (go test ./adminapi -run TestOpenAPIDocument -update),
// which fails while the committed file differs from what it would write.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPI serves the document; any token may read it.
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(openAPIDocument)
	return err
}
