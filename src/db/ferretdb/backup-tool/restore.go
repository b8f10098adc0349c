package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The manifest is a few hundred bytes; anything much larger is not ours.
const maxManifestBytes = 1 << 20

func runVerify(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("verify", flag.ExitOnError)
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		usage()
	}
	file := fs.Arg(0)
	// The copies are checked as files, so they are unpacked next to the backup (or in the
	// temporary folder when that is read-only) and removed afterwards.
	staging, err := os.MkdirTemp(filepath.Dir(file), ".pulse-verify-")
	if err != nil {
		if staging, err = os.MkdirTemp("", "pulse-verify-"); err != nil {
			return err
		}
	}
	defer os.RemoveAll(staging)
	m, err := unpackAndCheck(ctx, file, staging)
	if err != nil {
		return err
	}
	fmt.Printf("backup is sound: %d database file(s), snapshot taken at %s\n", len(m.Databases), m.SnapshotAt.Format("2006-01-02T15:04:05.000Z07:00"))
	return nil
}

// runRestore unpacks into a hidden folder inside DIR, checks everything there, and only then
// moves the database files into DIR: a backup that fails any check leaves DIR as it was.
func runRestore(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("restore", flag.ExitOnError)
	into := fs.String("into", "", "the empty data folder to restore into (created when missing)")
	_ = fs.Parse(args)
	if *into == "" || fs.NArg() != 1 {
		usage()
	}
	if err := os.MkdirAll(*into, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(*into)
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("the data folder %s is not empty: restore only into an empty folder", *into)
	}
	staging, err := os.MkdirTemp(*into, ".pulse-restore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(staging)
	m, err := unpackAndCheck(ctx, fs.Arg(0), staging)
	if err != nil {
		return err
	}
	for _, d := range m.Databases {
		if err := os.Rename(filepath.Join(staging, d.File), filepath.Join(*into, d.File)); err != nil {
			return err
		}
	}
	if err := syncDir(*into); err != nil {
		return err
	}
	fmt.Printf("restored %d database file(s) into %s (snapshot taken at %s)\n", len(m.Databases), *into, m.SnapshotAt.Format("2006-01-02T15:04:05.000Z07:00"))
	return nil
}

// unpackAndCheck unpacks a backup into staging and proves it whole: the manifest is ours, every
// file it lists is there once with its size and SHA-256, nothing else is, the gzip checksum
// holds to the last byte, and SQLite's integrity_check passes on every database.
func unpackAndCheck(ctx context.Context, file string, staging string) (*manifest, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, damaged{fmt.Sprintf("not gzip-compressed (%v)", err)}
	}
	tr := tar.NewReader(gz)
	m, err := readManifest(tr)
	if err != nil {
		return nil, err
	}
	expected := map[string]databaseEntry{}
	for _, d := range m.Databases {
		expected[d.File] = d
	}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, damaged{fmt.Sprintf("unreadable after the manifest (%v)", err)}
		}
		d, ok := expected[hdr.Name]
		if !ok || hdr.Typeflag != tar.TypeReg {
			return nil, damaged{fmt.Sprintf("%q is not listed in the manifest, or is there twice", hdr.Name)}
		}
		delete(expected, hdr.Name)
		if err := unpackDatabase(ctx, tr, d, staging); err != nil {
			if ctx.Err() != nil {
				return nil, errInterrupted
			}
			return nil, err
		}
	}
	// The tar ends before the gzip trailer; reading to the end checks the CRC and length.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		if ctx.Err() != nil {
			return nil, errInterrupted
		}
		return nil, damaged{fmt.Sprintf("the compressed stream is corrupt (%v)", err)}
	}
	if len(expected) > 0 {
		missing := make([]string, 0, len(expected))
		for name := range expected {
			missing = append(missing, name)
		}
		sort.Strings(missing)
		return nil, damaged{fmt.Sprintf("%s listed in the manifest but missing", strings.Join(missing, ", "))}
	}
	for _, d := range m.Databases {
		fmt.Printf("checking %s (SQLite integrity_check)\n", d.File)
		started := time.Now()
		if err := checkDatabase(ctx, filepath.Join(staging, d.File)); err != nil {
			if ctx.Err() != nil {
				return nil, errInterrupted
			}
			return nil, err
		}
		fmt.Printf("checked %s: ok, in %.1f s\n", d.File, time.Since(started).Seconds())
	}
	return m, nil
}

func readManifest(tr *tar.Reader) (*manifest, error) {
	hdr, err := tr.Next()
	if err != nil {
		return nil, damaged{fmt.Sprintf("no readable first entry (%v)", err)}
	}
	if hdr.Name != manifestName || hdr.Size > maxManifestBytes {
		return nil, damaged{fmt.Sprintf("the first entry is %q, not %s", hdr.Name, manifestName)}
	}
	var m manifest
	if err := json.NewDecoder(tr).Decode(&m); err != nil {
		return nil, damaged{fmt.Sprintf("the manifest is not readable (%v)", err)}
	}
	if m.Format != formatName {
		return nil, damaged{fmt.Sprintf("the manifest's format is %q, not %q", m.Format, formatName)}
	}
	if m.FormatVersion > formatVersion {
		return nil, fmt.Errorf("this backup has format version %d; this version of Pulse CRM reads up to %d: restore it with a newer version", m.FormatVersion, formatVersion)
	}
	if len(m.Databases) == 0 {
		return nil, damaged{"the manifest lists no database"}
	}
	seen := map[string]bool{}
	for _, d := range m.Databases {
		if !databaseFileName.MatchString(d.File) || len(d.SHA256) != sha256.Size*2 || d.Bytes < 0 {
			return nil, damaged{fmt.Sprintf("the manifest lists %q, which is not a database file", d.File)}
		}
		if seen[d.File] {
			return nil, damaged{fmt.Sprintf("the manifest lists %q twice", d.File)}
		}
		seen[d.File] = true
	}
	return &m, nil
}

func unpackDatabase(ctx context.Context, r io.Reader, d databaseEntry, staging string) error {
	started := time.Now()
	out, err := os.OpenFile(filepath.Join(staging, d.File), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	h := sha256.New()
	// One byte more than expected is enough to tell a longer file.
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(newCopyReader(ctx, r, "unpacking", d.File, d.Bytes), d.Bytes+1))
	if err != nil {
		return damaged{fmt.Sprintf("%s is unreadable (%v)", d.File, err)}
	}
	if n != d.Bytes || hex.EncodeToString(h.Sum(nil)) != d.SHA256 {
		return damaged{fmt.Sprintf("%s does not match the size and SHA-256 in the manifest", d.File)}
	}
	fmt.Printf("unpacked %s: %d bytes, SHA-256 matches, in %.1f s\n", d.File, n, time.Since(started).Seconds())
	if err := out.Sync(); err != nil {
		return err
	}
	return out.Close()
}

// checkDatabase runs SQLite's full integrity_check and makes sure the file is a FerretDB
// database. Opening it lets SQLite create and, on close, remove its -wal and -shm files.
func checkDatabase(ctx context.Context, path string) error {
	db, err := openDatabase(path)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return damaged{fmt.Sprintf("%s cannot be read by SQLite (%v)", filepath.Base(path), err)}
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return err
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return damaged{fmt.Sprintf("%s cannot be read by SQLite (%v)", filepath.Base(path), err)}
	}
	rows.Close()
	if len(problems) > 0 {
		return damaged{fmt.Sprintf("%s fails SQLite's integrity check: %s", filepath.Base(path), strings.Join(problems, "; "))}
	}
	var tables int
	err = db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?", metadataTable).Scan(&tables)
	if err != nil || tables != 1 {
		return damaged{fmt.Sprintf("%s is an SQLite file but not a FerretDB database", filepath.Base(path))}
	}
	return db.Close()
}
