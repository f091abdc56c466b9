package console

import "net/http"

// shownOnce is the answer to a form that created a secret (a webhook's
// signing secret, an admin token, an HMAC secret, an OAuth client secret):
// the one page that shows it. Pages are no-store (headers).
type shownOnce struct {
	Heading, What, Kept string
	Label, Secret, Hint string
	Facts               []fact
	Back, BackLabel     string
	Done                string
}

type fact struct{ Name, Value string }

func (s *Server) showOnce(w http.ResponseWriter, r *http.Request, title string, d *shownOnce) error {
	if d.Done == "" {
		d.Done = d.Back
	}
	return s.render(w, r, http.StatusCreated, "shown_once", sessionFrom(r.Context()), title, d)
}
