package console

import (
	"context"
	"strings"

	"github.com/keygate/keygate"
)

// search reads a list in order from after and keeps the rows match
// accepts, up to a page of them; with a query it reads at most searchScan
// rows and then offers a link to go on from there (the store has no
// search index). next is the link to the next page, empty on the last.
func search[T any](ctx context.Context, list func(context.Context, keygate.Page) ([]T, string, error), id func(T) string,
	match func(T) bool, path, q, after string) (rows []T, next string, err error) {
	limit := pageSize
	if q != "" {
		limit = keygate.MaxPageSize
	}
	scanned := 0
	for {
		page, more, err := list(ctx, keygate.Page{After: after, Limit: limit})
		if err != nil {
			return nil, "", err
		}
		for i, v := range page {
			scanned++
			if !match(v) {
				continue
			}
			rows = append(rows, v)
			if len(rows) == pageSize {
				if i < len(page)-1 || more != "" {
					next = nextLink(path, q, id(v))
				}
				return rows, next, nil
			}
		}
		if more == "" {
			return rows, "", nil
		}
		after = more
		if scanned >= searchScan {
			return rows, nextLink(path, q, after), nil
		}
	}
}

// contains reports whether any of fields holds q, ignoring case.
func contains(q string, fields ...string) bool {
	if q == "" {
		return true
	}
	q = strings.ToLower(q)
	for _, f := range fields {
		if strings.Contains(strings.ToLower(f), q) {
			return true
		}
	}
	return false
}

// query reads the search box, refusing an overlong one.
func query(v string) (string, error) {
	v = strings.TrimSpace(v)
	if len(v) > 200 {
		return "", keygate.Errorf(keygate.EINVALID, "Search: at most 200 characters.")
	}
	return v, nil
}
