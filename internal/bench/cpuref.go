package main

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
)

// cpuRefBytes is how much of the project's files the CPU reference
// compresses.
const cpuRefBytes = 64 << 20

// addCPUReference measures, once a run, this machine's speed at a
// create's heaviest work, on the first 64 MiB of the project's own files
// (zips in name order): zstd at create's default level and deflate at the
// level of the zips serve hands out, one core each, medians of 3. A cold
// create is CPU-bound on two cores, so its time (and the latency stage's
// ratio, whose stock is bound by latency) moves with these figures: they
// tell a slower machine from slower code when runs of different days
// disagree.
func (b *bench) addCPUReference(ctx context.Context, t *tree) error {
	if b.cpuRef {
		return nil
	}
	files, err := referenceFiles(ctx, t.Dir, cpuRefBytes)
	if err != nil {
		return err
	}
	var n int64
	for _, f := range files {
		n += int64(len(f))
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(8<<20))
	if err != nil {
		return err
	}
	defer enc.Close()
	joined := slices.Concat(files...)
	dst := make([]byte, 0, len(joined))
	zstdRate := medianRate(n, func() { dst = enc.EncodeAll(joined, dst[:0]) })
	fw, err := flate.NewWriter(io.Discard, 5)
	if err != nil {
		return err
	}
	deflRate := medianRate(n, func() {
		for _, f := range files {
			fw.Reset(io.Discard)
			fw.Write(f)
			fw.Close()
		}
	})
	what := fmt.Sprintf("%.0f MiB of the project's files", float64(n)/(1<<20))
	b.rep.add(figure{Tree: "machine", Measure: "CPU reference: zstd level better, one core, " + what, Unit: "MB/s", Value: zstdRate, Runs: 3,
		Note: "create's frames; a cold create's time moves with it"})
	b.rep.add(figure{Tree: "machine", Measure: "CPU reference: deflate level 5 file by file, one core, " + what, Unit: "MB/s", Value: deflRate, Runs: 3,
		Note: "the zips serve hands out, deflated at create"})
	b.cpuRef = true
	return nil
}

// medianRate runs f three times and returns the median rate in MB/s for n
// bytes, rounded to 0.1.
func medianRate(n int64, f func()) float64 {
	var rates []float64
	for range 3 {
		start := time.Now()
		f()
		rates = append(rates, float64(n)/1e6/time.Since(start).Seconds())
	}
	slices.Sort(rates)
	return float64(int(rates[1]*10+0.5)) / 10
}

// referenceFiles returns the contents of the files of the zips under dir,
// in the order of the zips' names and then of their files, up to limit
// bytes in all.
func referenceFiles(ctx context.Context, dir string, limit int64) ([][]byte, error) {
	var zips []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".zip") {
			zips = append(zips, p)
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(zips)
	var out [][]byte
	var n int64
	for _, z := range zips {
		zr, err := zip.OpenReader(z)
		if err != nil {
			return nil, fmt.Errorf("CPU reference: %w", err)
		}
		for _, f := range zr.File {
			if n+int64(f.UncompressedSize64) > limit {
				zr.Close()
				return out, nil
			}
			rc, err := f.Open()
			if err != nil {
				zr.Close()
				return nil, fmt.Errorf("CPU reference: %s: %s: %w", z, f.Name, err)
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				zr.Close()
				return nil, fmt.Errorf("CPU reference: %s: %s: %w", z, f.Name, err)
			}
			out = append(out, data)
			n += int64(len(data))
		}
		zr.Close()
	}
	return out, nil
}

// cpuFloorFigure is create's least possible wall time on this machine:
// its median CPU time spread over all cores, beside the stock's median
// wall time (stockWall) whose ratio target is given. A cold create is
// CPU-bound, so when even this floor's ratio is over the target, no
// overlap of network and compression can meet it here: only less CPU or
// more cores can; when it is under, the note says what use of the cores
// the target needs beside what the creates had. A failed time figure so
// reads as the machine's limit or the overlap's.
func cpuFloorFigure(prefix string, cold []measurement, stockWall, target float64, cores int, cmd, stockCmd string) figure {
	floor := medianCPU(cold) / float64(cores)
	note := fmt.Sprintf("median CPU ÷ %d cores: the least wall time the work allows here; ", cores)
	switch ratio := floor / stockWall; {
	case stockWall <= 0:
		note += "no stock time"
	case ratio > target:
		note += fmt.Sprintf("%.3f× is over the wall-time target %.2f×: it can't hold on %d cores without %.0f %% less CPU",
			ratio, target, cores, 100*(1-target/ratio))
	default:
		// The floor is met only if every core works from the first
		// request to the last; the create's own wall time says how much
		// of that it had.
		note += fmt.Sprintf("%.3f× is within the wall-time target %.2f×: it holds only at %.0f %% use of the %d cores from start to end (these creates: %.0f %%)",
			ratio, target, 100*ratio/target, cores, 100*floor/medianWall(cold))
	}
	return figure{Tree: "project", Measure: prefix + ": create cold CPU floor (CPU ÷ cores) vs go mod download all (wall)", Unit: unitSeconds,
		Value: floor, Stock: stockWall, HasStock: true, Runs: len(cold), Note: note, Command: cmd, StockCommand: stockCmd}
}
