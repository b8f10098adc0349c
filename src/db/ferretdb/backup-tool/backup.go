package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
)

func runBackup(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("backup", flag.ExitOnError)
	out := fs.String("out", "", "the backup file to write (must not exist)")
	meta := fs.String("meta", "", "a JSON object recorded in the manifest as is")
	_ = fs.Parse(args)
	if *out == "" || fs.NArg() == 0 {
		usage()
	}
	if *meta != "" && !json.Valid([]byte(*meta)) {
		return fmt.Errorf("-meta is not valid JSON")
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("%s already exists: choose another name or remove it first", *out)
	}
	started := time.Now()

	staging, err := os.MkdirTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".partial-")
	if err != nil {
		return fmt.Errorf("cannot write next to %s: %w", *out, err)
	}
	defer os.RemoveAll(staging)

	snap, err := takeSnapshot(ctx, fs.Args())
	if err != nil {
		return err
	}
	defer snap.close()
	fmt.Printf("snapshot taken at %s of %d database file(s); the engine's writers paused %.2f ms\n",
		snap.at.UTC().Format(time.RFC3339Nano), len(snap.sources), float64(snap.held.Microseconds())/1000)

	m := manifest{Format: formatName, FormatVersion: formatVersion, SnapshotAt: snap.at.UTC()}
	if *meta != "" {
		m.Meta = json.RawMessage(*meta)
	}
	for _, s := range snap.sources {
		entry, err := s.copyTo(ctx, staging)
		if err != nil {
			return err
		}
		m.Databases = append(m.Databases, entry)
	}
	snap.close()

	written, err := writeArchive(ctx, *out, m, staging)
	if err != nil {
		return err
	}
	var total int64
	for _, d := range m.Databases {
		total += d.Bytes
	}
	fmt.Printf("backup written: %s (%d bytes; %d database file(s), %d bytes uncompressed) in %.1f s\n",
		*out, written, len(m.Databases), total, time.Since(started).Seconds())
	return nil
}

// snapshot is one read transaction per database file, all opened at one instant.
type snapshot struct {
	at      time.Time
	held    time.Duration
	sources []*source
}

type source struct {
	path      string
	db        *sql.DB
	conn      *sql.Conn
	pageSize  int64
	pageCount int64
}

func (s *snapshot) close() {
	for _, src := range s.sources {
		src.close()
	}
}

func (s *source) close() {
	if s.conn != nil {
		_, _ = s.conn.ExecContext(context.Background(), "ROLLBACK")
		_ = s.conn.Close()
		s.conn = nil
	}
	if s.db != nil {
		_ = s.db.Close()
		s.db = nil
	}
}

// takeSnapshot makes the backup one point in time across files: a writer connection takes the
// write lock of every file at once (BEGIN IMMEDIATE on all attached files), each file's own
// connection then opens its read transaction, and the write locks are released. No commit can
// land between the first and the last read transaction, so together they see one instant; WAL
// mode lets the engine write again at once while the copies read their snapshots.
func takeSnapshot(ctx context.Context, paths []string) (_ *snapshot, err error) {
	snap := &snapshot{}
	defer func() {
		if err != nil {
			snap.close()
		}
	}()
	for _, p := range paths {
		if !databaseFileName.MatchString(filepath.Base(p)) {
			return nil, fmt.Errorf("%s is not a database file of the engine (<name>.sqlite)", p)
		}
		if _, err := os.Stat(p); err != nil {
			return nil, err
		}
		db, err := openDatabase(p)
		if err != nil {
			return nil, err
		}
		src := &source{path: p, db: db}
		snap.sources = append(snap.sources, src)
		if src.conn, err = db.Conn(ctx); err != nil {
			return nil, fmt.Errorf("cannot open %s: %w", p, err)
		}
		if err := src.prepareRead(ctx); err != nil {
			return nil, err
		}
	}

	writers, err := openDatabase(paths[0])
	if err != nil {
		return nil, err
	}
	defer writers.Close()
	hold, err := writers.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer hold.Close()
	for i, p := range paths[1:] {
		if _, err := hold.ExecContext(ctx, fmt.Sprintf("ATTACH DATABASE ? AS f%d", i+1), p); err != nil {
			return nil, fmt.Errorf("cannot attach %s: %w", p, err)
		}
	}

	if _, err := hold.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return nil, fmt.Errorf("the engine's writers did not pause within 30 s: %w", err)
	}
	snap.at = time.Now()
	for _, src := range snap.sources {
		if err := src.beginRead(ctx); err != nil {
			_, _ = hold.ExecContext(ctx, "ROLLBACK")
			return nil, err
		}
	}
	if _, err := hold.ExecContext(ctx, "ROLLBACK"); err != nil {
		return nil, err
	}
	snap.held = time.Since(snap.at)
	return snap, nil
}

// prepareRead reads the schema and page size ahead, outside the pause, so that beginRead has
// the least to do while the engine's writers wait.
func (s *source) prepareRead(ctx context.Context) error {
	var tables int64
	if err := s.conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil {
		return fmt.Errorf("cannot read %s: %w", s.path, err)
	}
	return s.conn.QueryRowContext(ctx, "PRAGMA page_size").Scan(&s.pageSize)
}

// beginRead opens the read transaction that pins this file's snapshot until the copy ends: a
// deferred BEGIN takes its snapshot at the first read, here page_count.
func (s *source) beginRead(ctx context.Context) error {
	if _, err := s.conn.ExecContext(ctx, "BEGIN"); err != nil {
		return fmt.Errorf("cannot read %s: %w", s.path, err)
	}
	if err := s.conn.QueryRowContext(ctx, "PRAGMA page_count").Scan(&s.pageCount); err != nil {
		return fmt.Errorf("cannot read %s: %w", s.path, err)
	}
	return nil
}

// copyTo copies the snapshot page by page with SQLite's online backup API. The copy reads
// through this connection's open read transaction, so it sees the snapshot's instant however
// long it takes and whatever the engine commits meanwhile.
func (s *source) copyTo(ctx context.Context, dir string) (databaseEntry, error) {
	file := filepath.Base(s.path)
	dest := filepath.Join(dir, file)
	total := s.pageSize * s.pageCount
	started := time.Now()
	lastReport := started
	err := s.conn.Raw(func(driverConn any) error {
		backuper, ok := driverConn.(interface {
			NewBackup(string) (*sqlite.Backup, error)
		})
		if !ok {
			return fmt.Errorf("this SQLite driver has no online backup")
		}
		b, err := backuper.NewBackup(dest)
		if err != nil {
			return fmt.Errorf("cannot create %s: %w", dest, err)
		}
		for pages := int64(0); ; {
			more, err := b.Step(pagesPerStep)
			if err != nil {
				_ = b.Finish()
				return fmt.Errorf("copying %s: %w", file, err)
			}
			pages = min(pages+pagesPerStep, s.pageCount)
			if !more {
				return b.Finish()
			}
			if ctx.Err() != nil {
				_ = b.Finish()
				return errInterrupted
			}
			if time.Since(lastReport) >= reportEvery {
				lastReport = time.Now()
				fmt.Printf("copying %s: %s of %s (%d%%)\n", file, mib(pages*s.pageSize), mib(total), pages*100/max(s.pageCount, 1))
			}
		}
	})
	s.close() // ends the read transaction: the engine may checkpoint past it now
	if err != nil {
		return databaseEntry{}, err
	}
	bytes, sum, err := hashFile(dest)
	if err != nil {
		return databaseEntry{}, err
	}
	fmt.Printf("copied %s: %d bytes in %.1f s\n", file, bytes, time.Since(started).Seconds())
	return databaseEntry{Name: strings.TrimSuffix(file, ".sqlite"), File: file, Bytes: bytes, SHA256: sum}, nil
}

// countingWriter counts what reaches the backup file, for progress.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeArchive writes the manifest and the copies to FILE.partial, flushes it to disk, and only
// then renames it to FILE: a backup file that exists is a whole one.
func writeArchive(ctx context.Context, out string, m manifest, staging string) (int64, error) {
	partial := out + ".partial"
	f, err := os.OpenFile(partial, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600) // it holds personal data
	if err != nil {
		return 0, err
	}
	defer os.Remove(partial)
	defer f.Close()
	counter := &countingWriter{w: f}
	gz, _ := gzip.NewWriterLevel(counter, gzip.BestSpeed)
	tw := tar.NewWriter(gz)

	manifestJSON, _ := json.MarshalIndent(m, "", "  ")
	if err := addEntry(tw, manifestName, int64(len(manifestJSON)), m.SnapshotAt, strings.NewReader(string(manifestJSON))); err != nil {
		return 0, err
	}
	for _, d := range m.Databases {
		staged, err := os.Open(filepath.Join(staging, d.File))
		if err != nil {
			return 0, err
		}
		err = addEntry(tw, d.File, d.Bytes, m.SnapshotAt, newCopyReader(ctx, staged, "archiving", d.File, d.Bytes))
		staged.Close()
		if err != nil {
			return 0, err
		}
		fmt.Printf("archived %s: %d bytes; the backup file has %d bytes so far\n", d.File, d.Bytes, counter.n)
	}
	if err := tw.Close(); err != nil {
		return 0, err
	}
	if err := gz.Close(); err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	if err := os.Rename(partial, out); err != nil {
		return 0, err
	}
	return counter.n, syncDir(filepath.Dir(out))
}

func addEntry(tw *tar.Writer, name string, size int64, modTime time.Time, r io.Reader) error {
	hdr := &tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: modTime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := io.Copy(tw, r)
	return err
}
