package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/keygate/keygate"
)

const serviceCols = `id, name, url, connect_timeout, read_timeout, write_timeout, tags, created_at, updated_at, targets, retries, healthcheck, openapi`

func scanService(row scanner) (*keygate.Service, error) {
	s := &keygate.Service{}
	created, updated := timestamps(&s.Timestamps)
	var targets string
	if err := row.Scan(&s.ID, &s.Name, &s.URL, &s.ConnectTimeout, &s.ReadTimeout, &s.WriteTimeout,
		listCol(&s.Tags), created, updated, &targets, &s.Retries, jsonColumn[keygate.HealthCheck]{&s.HealthCheck}, &s.OpenAPI); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(targets), &s.Targets); err != nil {
		return nil, fmt.Errorf("store: service %s: targets: %w", s.ID, err)
	}
	s.Normalize()
	return s, nil
}

// findService looks a service up by id when ref looks like one, else by name.
func findService(ctx context.Context, q querier, ref string) (*keygate.Service, error) {
	where, key := byRef(ref, "name")
	s, err := scanService(q.QueryRowContext(ctx, `SELECT `+serviceCols+` FROM services WHERE `+where, key))
	if err != nil {
		return nil, notFound(err, "service %q not found", ref)
	}
	return s, nil
}

func (db *DB) FindService(ctx context.Context, ref string) (*keygate.Service, error) {
	return findService(ctx, db.r, ref)
}

func (db *DB) ListServices(ctx context.Context, p keygate.Page) ([]*keygate.Service, string, error) {
	return listPage(ctx, db.r, p, `SELECT `+serviceCols+` FROM services WHERE id > ? ORDER BY id LIMIT ?`,
		scanService, func(s *keygate.Service) string { return s.ID })
}

func (db *DB) CreateService(ctx context.Context, s *keygate.Service) error {
	return services.create(ctx, db, s)
}

func (db *DB) UpdateService(ctx context.Context, ref string, update func(*keygate.Service) error) (*keygate.Service, error) {
	return services.update(ctx, db, ref, update)
}

func saveService(ctx context.Context, tx *Tx, s *keygate.Service, insert bool) error {
	query := `UPDATE services SET name = ?2, url = ?3, connect_timeout = ?4, read_timeout = ?5,
		write_timeout = ?6, tags = ?7, updated_at = ?9, targets = ?10, retries = ?11, healthcheck = ?12, openapi = ?13
		WHERE id = ?1 AND created_at = ?8`
	if insert {
		query = `INSERT INTO services (` + serviceCols + `) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)`
	}
	targets, err := json.Marshal(s.Targets)
	if err != nil {
		return fmt.Errorf("store: encode targets: %w", err)
	}
	healthcheck, err := encodeJSON(s.HealthCheck)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, query, s.ID, s.Name, s.URL, s.ConnectTimeout, s.ReadTimeout, s.WriteTimeout,
		encodeList(s.Tags), micros(s.CreatedAt), micros(s.UpdatedAt), string(targets), s.Retries, healthcheck, s.OpenAPI)
	if code, col := constraint(err); code == Unique && col == "name" {
		return keygate.Errorf(keygate.ECONFLICT, "name: a service named %q already exists", s.Name)
	}
	if err != nil {
		return fmt.Errorf("store: save service: %w", err)
	}
	return nil
}

func (db *DB) DeleteService(ctx context.Context, ref string) error {
	return db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		s, err := findService(ctx, tx, ref)
		if err != nil {
			return nil, err
		}
		// Checked here for a message that says why; the foreign key would
		// refuse the delete anyway.
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM routes WHERE service_id = ?`, s.ID).Scan(&n); err != nil {
			return nil, fmt.Errorf("store: count routes: %w", err)
		}
		if n > 0 {
			return nil, keygate.Errorf(keygate.ECONFLICT, "service %q is used by %d route(s)", ref, n)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM services WHERE id = ?`, s.ID); err != nil {
			return nil, fmt.Errorf("store: delete service: %w", err)
		}
		return []keygate.Change{{Kind: keygate.ServiceChanged, Op: keygate.Deleted, ID: s.ID}}, nil
	})
}
