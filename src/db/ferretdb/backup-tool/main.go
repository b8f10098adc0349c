// Command pulse-sqlite-backup writes, checks and restores Pulse CRM backups of the embedded
// database: FerretDB's SQLite backend, one SQLite file per MongoDB database in the data folder,
// written in WAL mode by the engine while the API runs.
//
// It is compiled inside FerretDB's own module tree (src/db/ferretdb/build.ts), so it links the
// very SQLite the engine uses (modernc.org/sqlite, pure Go) and builds offline from the module
// cache. The npm scripts db:backup and db:restore run it; people rarely need to.
//
//	pulse-sqlite-backup backup -out FILE [-meta JSON] DATABASE.sqlite...
//	pulse-sqlite-backup verify FILE
//	pulse-sqlite-backup restore -into DIR FILE
//
// A backup is a gzip-compressed tar: manifest.json first (the instant of the snapshot and the
// size and SHA-256 of every file), then one SQLite file per database, as the engine names them.
package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver: the SQLite the engine uses
)

const (
	manifestName  = "manifest.json"
	formatName    = "pulse-crm-backup"
	formatVersion = 1
	// The engine waits 10 s for a busy database; we wait longer for its writers to finish.
	busyTimeout = "busy_timeout(30000)"
	// Pages copied per step of the online backup; progress and Ctrl-C are looked at in between.
	pagesPerStep = 1024
	// Every FerretDB database file has this table; a file without it is not one.
	metadataTable = "_ferretdb_collections"
	reportEvery   = 500 * time.Millisecond
)

// A database file is named after its MongoDB database: no folders, no hidden files.
var databaseFileName = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]*\.sqlite$`)

type manifest struct {
	Format        string          `json:"format"`
	FormatVersion int             `json:"formatVersion"`
	SnapshotAt    time.Time       `json:"snapshotAt"`
	Meta          json.RawMessage `json:"meta,omitempty"`
	Databases     []databaseEntry `json:"databases"`
}

type databaseEntry struct {
	Name   string `json:"name"`
	File   string `json:"file"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

var errInterrupted = errors.New("interrupted; the partial files were removed")

// damaged marks a backup that must not be restored; the message says what is wrong with it.
type damaged struct{ reason string }

func (d damaged) Error() string {
	return "the backup is damaged or not a Pulse CRM backup: " + d.reason
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	// Ctrl-C or SIGTERM stops the work between two steps, and the deferred clean-ups remove
	// the partial files: an interrupted run leaves nothing behind.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var err error
	switch os.Args[1] {
	case "backup":
		err = runBackup(ctx, os.Args[2:])
	case "verify":
		err = runVerify(ctx, os.Args[2:])
	case "restore":
		err = runRestore(ctx, os.Args[2:])
	default:
		usage()
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		if errors.As(err, &damaged{}) {
			os.Exit(3)
		}
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: pulse-sqlite-backup backup -out FILE [-meta JSON] DATABASE.sqlite...")
	fmt.Fprintln(os.Stderr, "       pulse-sqlite-backup verify FILE")
	fmt.Fprintln(os.Stderr, "       pulse-sqlite-backup restore -into DIR FILE")
	os.Exit(2)
}

// openDatabase opens one SQLite file through database/sql, on a single connection.
func openDatabase(path string) (*sql.DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	u := url.URL{Scheme: "file", Path: abs, RawQuery: "_pragma=" + url.QueryEscape(busyTimeout)}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// copyReader is a long copy's reader: it prints how far the copy has got (at most every half
// second) and stops it when the run is interrupted.
type copyReader struct {
	ctx         context.Context
	r           io.Reader
	doing, file string
	done, total int64
	lastReport  time.Time
}

func newCopyReader(ctx context.Context, r io.Reader, doing, file string, total int64) *copyReader {
	return &copyReader{ctx: ctx, r: r, doing: doing, file: file, total: total, lastReport: time.Now()}
}

func (c *copyReader) Read(p []byte) (int, error) {
	if c.ctx.Err() != nil {
		return 0, errInterrupted
	}
	n, err := c.r.Read(p)
	c.done += int64(n)
	if time.Since(c.lastReport) >= reportEvery {
		c.lastReport = time.Now()
		fmt.Printf("%s %s: %s of %s (%d%%)\n", c.doing, c.file, mib(c.done), mib(c.total), c.done*100/max(c.total, 1))
	}
	return n, err
}

func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return n, hex.EncodeToString(h.Sum(nil)), err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
