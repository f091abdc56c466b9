// Package pgtest gives a test a PostgreSQL schema of its own on the server
// of KEYGATE_TEST_POSTGRES_URL, so that tests running in parallel, in one
// package and across packages, never meet.
package pgtest

import (
	"crypto/rand"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// URL is the server of KEYGATE_TEST_POSTGRES_URL; without it the test is
// skipped.
func URL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv("KEYGATE_TEST_POSTGRES_URL")
	if url == "" {
		tb.Skip("KEYGATE_TEST_POSTGRES_URL not set: set it to a PostgreSQL database to run this test (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	return url
}

// Schema returns URL and a new schema name starting with prefix, dropped
// with everything in it when the test ends.
func Schema(tb testing.TB, prefix string) (url, schema string) {
	tb.Helper()
	url = URL(tb)
	schema = prefix + rand.Text()[:12]
	tb.Cleanup(func() {
		cfg, err := pgx.ParseConfig(url)
		if err != nil {
			tb.Error(err)
			return
		}
		db := stdlib.OpenDB(*cfg)
		defer db.Close()
		if _, err := db.Exec(`DROP SCHEMA IF EXISTS ` + pgx.Identifier{schema}.Sanitize() + ` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return url, schema
}
