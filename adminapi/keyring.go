package adminapi

import (
	"net/http"
	"strconv"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/keyring"
)

// keyringStatus answers GET /v1/keyring: the versions, how many data keys
// each wraps, and how many a rewrap still has to move.
func (s *Server) keyringStatus(w http.ResponseWriter, r *http.Request) error {
	st, err := s.Keyring.Status(r.Context())
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, st)
}

func (s *Server) rotateKeyring(w http.ResponseWriter, r *http.Request) error {
	st, err := s.Keyring.Rotate(r.Context())
	if err != nil {
		return err
	}
	return reply(w, http.StatusCreated, st)
}

// rewrapRequest asks for one batch: clients repeat it until nothing
// remains, which makes a rewrap resumable and its progress visible.
type rewrapRequest struct {
	BatchSize int `json:"batch_size"`
}

func (s *Server) rewrapKeyring(w http.ResponseWriter, r *http.Request) error {
	req := rewrapRequest{BatchSize: 500}
	if r.ContentLength != 0 {
		if err := decodeBody(w, r, &req); err != nil {
			return err
		}
	}
	moved, st, err := s.Keyring.RewrapBatch(r.Context(), req.BatchSize)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, struct {
		Rewrapped int `json:"rewrapped"`
		*keyring.Status
	}{moved, st})
}

func (s *Server) retireKeyringVersion(w http.ResponseWriter, r *http.Request) error {
	version, err := strconv.Atoi(r.PathValue("version"))
	if err != nil {
		return keygate.Errorf(keygate.EINVALID, "version: must be a number")
	}
	if _, err := s.Keyring.Retire(r.Context(), version); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
